"""Users, their API tokens, and revoked access tokens.

A user row holds an argon2 password hash (never a password), a role and a tenant. API
tokens and revoked JWT ids are stored as digests or ids only. Hashing and token minting
live in ``leoflow.engine.auth``; nothing here commits (the caller owns the transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page, only, order_by, upsert
from leoflow.engine.store.rows import Page
from leoflow.engine.store.tables import (
    DEFAULT_TENANT,
    api_token,
    revoked_token,
    user_account,
)
from leoflow.engine.store.types import utcnow

USER_ORDER_FIELDS = ("username", "role", "tenant", "created_at")
USER_UPDATABLE = ("password_hash", "role", "tenant")


@dataclass(frozen=True)
class UserRow:
    username: str
    password_hash: str
    role: str
    tenant: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApiTokenRow:
    """An API token without its secret (only its SHA-256 is stored)."""

    id: str
    token_hash: str
    username: str
    description: str | None
    created_at: datetime
    expires_at: datetime | None


# -- users ------------------------------------------------------------------------------

async def get_user(conn: AsyncConnection, username: str) -> UserRow | None:
    row = (await conn.execute(
        select(user_account).where(user_account.c.username == username))).first()
    return UserRow(**row._mapping) if row else None


async def create_user(conn: AsyncConnection, username: str, *, password_hash: str, role: str,
                      tenant: str = DEFAULT_TENANT, now: datetime | None = None
                      ) -> UserRow | None:
    """Insert a user; ``None`` when the username is taken (nothing is changed then)."""
    now = now or utcnow()
    values: dict[str, Any] = {"username": username, "password_hash": password_hash,
                              "role": role, "tenant": tenant, "created_at": now,
                              "updated_at": now}
    stmt = upsert(conn, user_account).values(**values).on_conflict_do_nothing(
        index_elements=[user_account.c.username])
    if (await conn.execute(stmt)).rowcount == 0:
        return None
    return UserRow(**values)


async def update_user(conn: AsyncConnection, username: str, *, now: datetime | None = None,
                      **changes: str) -> UserRow | None:
    """Change ``password_hash``, ``role`` or ``tenant``; ``None`` for an unknown user."""
    values = only(changes, USER_UPDATABLE, "user")
    values["updated_at"] = now or utcnow()
    await conn.execute(
        update(user_account).where(user_account.c.username == username).values(**values))
    return await get_user(conn, username)


async def delete_user(conn: AsyncConnection, username: str) -> bool:
    """Delete a user and (by cascade) its API tokens; ``False`` if unknown."""
    # Deleted explicitly too: SQLite enforces the cascade only with foreign keys on.
    await conn.execute(delete(api_token).where(api_token.c.username == username))
    result = await conn.execute(delete(user_account).where(user_account.c.username == username))
    return result.rowcount > 0


async def list_users(conn: AsyncConnection, *, tenant: str | None = None,
                     role: str | Collection[str] | None = None, limit: int | None = 100,
                     offset: int = 0, order: str = "username") -> Page[UserRow]:
    """Users (of one tenant, or all), one page, with the total."""
    query = select(user_account)
    if tenant is not None:
        query = query.where(user_account.c.tenant == tenant)
    if role is not None:
        roles = (role,) if isinstance(role, str) else tuple(role)
        query = query.where(user_account.c.role.in_(roles))
    clauses = order_by(user_account, order, USER_ORDER_FIELDS, ("username",))
    return await fetch_page(conn, query, UserRow, order=clauses, limit=limit, offset=offset)


async def count_users(conn: AsyncConnection, *, role: str | None = None) -> int:
    query = select(func.count()).select_from(user_account)
    if role is not None:
        query = query.where(user_account.c.role == role)
    return int((await conn.execute(query)).scalar_one())


# -- API tokens -------------------------------------------------------------------------

async def add_api_token(conn: AsyncConnection, username: str, token_hash: str, *,
                        description: str | None = None, expires_at: datetime | None = None,
                        now: datetime | None = None) -> ApiTokenRow:
    """Store the digest of a new API token for ``username`` (which must exist)."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()), "token_hash": token_hash, "username": username,
        "description": description, "created_at": now or utcnow(), "expires_at": expires_at}
    await conn.execute(api_token.insert().values(**values))
    return ApiTokenRow(**values)


async def find_api_token(conn: AsyncConnection, token_hash: str) -> ApiTokenRow | None:
    row = (await conn.execute(
        select(api_token).where(api_token.c.token_hash == token_hash))).first()
    return ApiTokenRow(**row._mapping) if row else None


async def list_api_tokens(conn: AsyncConnection, username: str) -> list[ApiTokenRow]:
    rows = await conn.execute(select(api_token).where(api_token.c.username == username)
                              .order_by(api_token.c.created_at, api_token.c.id))
    return [ApiTokenRow(**row._mapping) for row in rows]


async def delete_api_token(conn: AsyncConnection, username: str, token_id: str) -> bool:
    result = await conn.execute(delete(api_token).where(
        api_token.c.id == token_id, api_token.c.username == username))
    return result.rowcount > 0


# -- revoked access tokens --------------------------------------------------------------

async def revoke_jti(conn: AsyncConnection, jti: str, expires_at: datetime, *,
                     now: datetime | None = None) -> None:
    """Refuse the access token ``jti`` from now on (idempotent), and forget revocations of
    tokens that have expired anyway."""
    now = now or utcnow()
    await conn.execute(delete(revoked_token).where(revoked_token.c.expires_at < now))
    stmt = upsert(conn, revoked_token).values(jti=jti, expires_at=expires_at, revoked_at=now)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=[revoked_token.c.jti]))


async def is_revoked(conn: AsyncConnection, jti: str) -> bool:
    row = (await conn.execute(
        select(revoked_token.c.jti).where(revoked_token.c.jti == jti))).first()
    return row is not None
