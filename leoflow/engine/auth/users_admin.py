"""User administration: create, list, change and delete users, and their API tokens.

Who may manage whom: the routes require ``MANAGE_USERS`` (the Admin role). An administrator
of the ``default`` tenant is the operator of the whole control plane and manages the users of
every tenant (that is how a new tenant gets its first user); an administrator of any other
tenant manages the users of its own tenant only, and users of other tenants do not exist
for it (404). The last administrator of the ``default`` tenant can be neither deleted nor
demoted, so that the control plane can never lose its last operator.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.auth import api_tokens
from leoflow.engine.auth.errors import (
    AlreadyExistsError,
    ForbiddenChange,
    InvalidInput,
    LockoutError,
    NotFoundError,
    check_text,
)
from leoflow.engine.auth.passwords import Passwords, password_problem
from leoflow.engine.auth.permissions import ROLES, Principal
from leoflow.engine.store import Page, Store, audit, users
from leoflow.engine.store.tables import DEFAULT_TENANT
from leoflow.engine.store.users import ApiTokenRow, UserRow

ADMIN_ROLE = "Admin"
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@+-]{1,250}$")
TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def check_role(role: object) -> str:
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}",
                           field="role")
    return role


def check_tenant(tenant: object) -> str:
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise InvalidInput("tenant must be 1-100 letters, digits, '_', '.' or '-', got "
                           f"{tenant!r}", field="tenant")
    return tenant


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise InvalidInput("username must be 1-250 letters, digits or one of _ . @ + -, got "
                           f"{username!r}", field="username")
    return username


def check_password(password: object) -> str:
    problem = password_problem(password)
    if problem or not isinstance(password, str):  # password_problem refuses a non-string
        raise InvalidInput(problem or "password must be a string", field="password")
    return password


class UserAdmin:
    def __init__(self, store: Store, passwords: Passwords, *,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.passwords = passwords
        self.clock = clock

    @staticmethod
    def sees_all(actor: Principal) -> bool:
        return actor.tenant == DEFAULT_TENANT

    @staticmethod
    async def _find(conn: AsyncConnection, username: str) -> UserRow | None:
        if not USERNAME_RE.match(username):  # cannot exist; the database may refuse it
            return None
        return await users.get_user(conn, username)

    def _visible(self, actor: Principal, user: UserRow | None, username: str) -> UserRow:
        if user is None or not (self.sees_all(actor) or user.tenant == actor.tenant):
            raise NotFoundError(f"The user `{username}` was not found", field="username")
        return user

    def _target_tenant(self, actor: Principal, tenant: str | None) -> str:
        if tenant is None:
            return actor.tenant
        check_tenant(tenant)
        if tenant != actor.tenant and not self.sees_all(actor):
            raise ForbiddenChange(f"an administrator of tenant {actor.tenant!r} cannot manage "
                                  f"users of tenant {tenant!r}", field="tenant")
        return tenant

    async def list_users(self, actor: Principal, *, limit: int = 50, offset: int = 0,
                   order: str = "username") -> Page[UserRow]:
        async with self.store.connect() as conn:
            return await users.list_users(
                conn, tenant=None if self.sees_all(actor) else actor.tenant, limit=limit,
                offset=offset, order=order)

    async def get_user(self, actor: Principal, username: str) -> UserRow:
        async with self.store.connect() as conn:
            return self._visible(actor, await self._find(conn, username), username)

    async def create_user(self, actor: Principal, username: str, password: str, role: str, *,
                     tenant: str | None = None) -> UserRow:
        check_username(username)
        check_role(role)
        check_password(password)
        target = self._target_tenant(actor, tenant)
        password_hash = await self.passwords.hash_async(password)
        async with self.store.begin() as conn:
            created = await users.create_user(conn, username, password_hash=password_hash,
                                              role=role, tenant=target, now=self.clock())
            if created is None:
                raise AlreadyExistsError(f"The user `{username}` already exists",
                                         field="username")
            await audit.record_event(conn, "post_user", username=actor.username,
                                     occurred_at=self.clock(),
                                     extra={"user": username, "role": role, "tenant": target})
        return created

    async def update_user(self, actor: Principal, username: str, *, role: str | None = None,
                     password: str | None = None, tenant: str | None = None) -> UserRow:
        """Change a user's role, password or tenant (only the given ones)."""
        changes: dict[str, str] = {}
        if role is not None:
            changes["role"] = check_role(role)
        if tenant is not None:
            changes["tenant"] = self._target_tenant(actor, tenant)
        if password is not None:
            changes["password_hash"] = await self.passwords.hash_async(check_password(password))
        async with self.store.begin() as conn:
            user = self._visible(actor, await self._find(conn, username), username)
            if not changes:
                return user
            await self._keep_an_operator(conn, user, role=changes.get("role", user.role),
                                         tenant=changes.get("tenant", user.tenant))
            updated = await users.update_user(conn, username, now=self.clock(), **changes)
            if updated is None:  # deleted by another transaction since it was read
                raise NotFoundError(f"The user `{username}` was not found", field="username")
            await audit.record_event(
                conn, "patch_user", username=actor.username, occurred_at=self.clock(),
                extra={"user": username, "fields": sorted(
                    "password" if k == "password_hash" else k for k in changes)})
        return updated

    async def delete_user(self, actor: Principal, username: str) -> None:
        async with self.store.begin() as conn:
            user = self._visible(actor, await self._find(conn, username), username)
            await self._keep_an_operator(conn, user, role=None, tenant=None)
            await users.delete_user(conn, username)
            await audit.record_event(conn, "delete_user", username=actor.username,
                                     occurred_at=self.clock(), extra={"user": username})

    async def rehash(self, username: str, password: str) -> None:
        """Store a hash with the current argon2 parameters (after a successful login)."""
        password_hash = await self.passwords.hash_async(password)
        async with self.store.begin() as conn:
            await users.update_user(conn, username, password_hash=password_hash,
                                    now=self.clock())

    async def _keep_an_operator(self, conn: AsyncConnection, user: UserRow, *, role: str | None,
                                tenant: str | None) -> None:
        was_operator = user.role == ADMIN_ROLE and user.tenant == DEFAULT_TENANT
        stays_operator = role == ADMIN_ROLE and tenant == DEFAULT_TENANT
        if not was_operator or stays_operator:
            return
        admins = await users.list_users(conn, tenant=DEFAULT_TENANT, role=ADMIN_ROLE,
                                         limit=2)
        if admins.total <= 1:
            raise LockoutError(f"`{user.username}` is the last administrator of the default "
                               "tenant; make another one first", field="username")

    # -- API tokens -----------------------------------------------------------------------

    async def create_api_token(self, actor: Principal, username: str, *,
                               expires_in_days: float | None = None,
                               description: str | None = None) -> tuple[str, ApiTokenRow]:
        """A new API token acting as ``username``; the plain token is returned only here."""
        check_text(description, "description")
        async with self.store.begin() as conn:
            self._visible(actor, await self._find(conn, username), username)
            token, row = await api_tokens.create_api_token(
                conn, username, expires_in_days=expires_in_days, description=description,
                now=self.clock())
            await audit.record_event(conn, "post_api_token", username=actor.username,
                                     occurred_at=self.clock(),
                                     extra={"user": username, "token_id": row.id})
        return token, row

    async def list_api_tokens(self, actor: Principal, username: str) -> list[ApiTokenRow]:
        async with self.store.connect() as conn:
            self._visible(actor, await self._find(conn, username), username)
            return await users.list_api_tokens(conn, username)

    async def delete_api_token(self, actor: Principal, username: str, token_id: str) -> None:
        async with self.store.begin() as conn:
            self._visible(actor, await self._find(conn, username), username)
            if not _is_uuid(token_id) or not await users.delete_api_token(conn, username,
                                                                          token_id):
                raise NotFoundError(f"The API token `{token_id}` of `{username}` was not found",
                                    field="token_id")
            await audit.record_event(conn, "delete_api_token", username=actor.username,
                                     occurred_at=self.clock(),
                                     extra={"user": username, "token_id": token_id})


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
