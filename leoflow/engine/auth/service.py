"""``AuthService``: logins, access tokens, API tokens, the bootstrap admin — the
``Authenticator`` of the API — and, as attributes, the user administration (``users``) and
the tenant's variables and connections (``secrets``).

Every request's token is checked against the store: the role and tenant of a principal are
the user's *current* ones (a demoted or deleted user loses access at once, whatever the
token says), a revoked token (logout) is refused on every replica, and a token issued for
older credentials is refused: a password change, or deleting the user and creating one
with the same name, ends every access token issued before (the ``gen`` claim).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from leoflow.engine.auth import api_tokens
from leoflow.engine.auth.access_tokens import AccessClaims, AccessTokens, TokenError
from leoflow.engine.auth.cipher import SecretCipher
from leoflow.engine.auth.config import AuthConfig, fernet_keys, jwt_secret
from leoflow.engine.auth.errors import (
    InvalidCredentials,
    InvalidToken,
    NotAuthenticated,
    RateLimited,
    TokenExpired,
)
from leoflow.engine.auth.passwords import Passwords
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.auth.ratelimit import LoginRateLimiter
from leoflow.engine.auth.secrets import SecretsService
from leoflow.engine.auth.users_admin import UserAdmin
from leoflow.engine.store import Store, users
from leoflow.engine.store.tables import DEFAULT_TENANT

log = logging.getLogger("leoflow.auth")

BOOTSTRAP_USERNAME = "admin"
ADMIN_ROLE = "Admin"
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class AuthService:
    """Build it with ``await AuthService.open(store, settings)`` (the server does)."""

    def __init__(self, store: Store, config: AuthConfig, *, secret: str,
                 cipher: SecretCipher, passwords: Passwords | None = None,
                 clock: Clock = system_clock,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.passwords = passwords or Passwords()
        self.cipher = cipher
        self.tokens = AccessTokens(secret, algorithm=config.jwt_algorithm,
                                   audience=config.jwt_audience)
        self.limiter = LoginRateLimiter(max_failures=config.login_max_failures,
                                        window=config.login_failure_window,
                                        address_max_failures=config.login_address_max_failures,
                                        monotonic=monotonic)
        self.users = UserAdmin(store, self.passwords, clock=clock)
        self.secrets = SecretsService(store, cipher, clock=clock)

    @classmethod
    async def open(cls, store: Store, settings: Any, *, passwords: Passwords | None = None,
                   clock: Clock = system_clock,
                   monotonic: Callable[[], float] = time.monotonic) -> AuthService:
        """Resolve the keys (``AuthConfigError`` for a weak secret in production), then
        create the bootstrap admin if there is no admin yet."""
        config = settings if isinstance(settings, AuthConfig) else AuthConfig.from_settings(
            settings)
        secret = await asyncio.to_thread(jwt_secret, config)
        cipher = SecretCipher(await asyncio.to_thread(fernet_keys, config))
        service = cls(store, config, secret=secret, cipher=cipher, passwords=passwords,
                      clock=clock, monotonic=monotonic)
        await service.bootstrap_admin(config.bootstrap_password)
        return service

    # -- the Authenticator protocol ----------------------------------------------------------

    async def login(self, username: str, password: str, *, client: str,
                    long_lived: bool = False) -> str:
        """An access token for a correct password; ``InvalidCredentials`` (401) otherwise,
        ``RateLimited`` (429) after too many failures of this username from this address,
        or from this address whatever the username (``LoginRateLimiter``)."""
        wait = self.limiter.retry_after(username, client)
        if wait is not None:
            log.warning("login of %r from %s refused for %d s after repeated failures",
                        username[:100], client, wait)
            raise RateLimited(wait)
        stamp = self.limiter.attempt(username, client)
        user = None
        if 0 < len(username) <= 250 and "\x00" not in username:  # else no such user
            async with self.store.connect() as conn:
                user = await users.get_user(conn, username)
        ok = await self.passwords.verify_async(user.password_hash if user else None, password)
        if not ok or user is None:
            log.info("failed login of %r from %s", username[:100], client)
            raise InvalidCredentials()
        self.limiter.succeeded(username, client, stamp)
        if self.passwords.needs_rehash(user.password_hash):
            await self.users.rehash(username, password)
        return await self.issue(Principal(user.username, user.role, user.tenant),
                                long_lived=long_lived)

    async def principal(self, token: str) -> Principal:
        """Who presents ``token`` (a JWT or an API token): 401 when missing or expired,
        403 "Invalid JWT token" when forged, revoked, or its user is gone."""
        if not token:
            raise NotAuthenticated()
        now = self.clock()
        if api_tokens.looks_like_api_token(token):
            return await self._api_token_principal(token, now)
        claims = self.verify(token)
        async with self.store.connect() as conn:
            if await users.is_revoked(conn, claims.jti):
                raise InvalidToken()
            user = await users.get_user(conn, claims.principal.username)
        if user is None or not hmac.compare_digest(
                claims.generation, self._generation(user.username, user.password_hash)):
            raise InvalidToken()  # deleted, or its password changed since the token was made
        return Principal(user.username, user.role, user.tenant)

    # -- access tokens -----------------------------------------------------------------------

    async def issue(self, principal: Principal, *, long_lived: bool = False) -> str:
        """A signed access token for ``principal`` (an existing user; ``InvalidCredentials``
        otherwise) without a password: for callers that authenticated otherwise (tests,
        in-process callers). It is bound to the user's current credentials."""
        async with self.store.connect() as conn:
            user = await users.get_user(conn, principal.username)
        if user is None:
            raise InvalidCredentials()
        seconds = self.config.jwt_cli_expiration if long_lived else self.config.jwt_expiration
        token, _claims = self.tokens.issue(
            principal, now=self.clock(), lifetime=timedelta(seconds=seconds),
            generation=self._generation(user.username, user.password_hash))
        return token

    def _generation(self, username: str, password_hash: str) -> str:
        return self.tokens.credential_generation(username, password_hash)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a JWT, or the API's error (401 expired, 403 otherwise); no revocation
        or user check (``principal`` does those)."""
        try:
            return self.tokens.verify(token, now=self.clock())
        except TokenError as exc:
            if exc.expired:
                raise TokenExpired() from None
            raise InvalidToken() from None

    async def logout(self, *tokens: str | None) -> int:
        """Revoke the given JWTs (by ``jti``) on every replica; ignores tokens that are
        invalid or expired anyway and API tokens (delete those instead). Returns how many
        were revoked."""
        revoked = 0
        now = self.clock()
        for token in {t for t in tokens if t and not api_tokens.looks_like_api_token(t)}:
            try:
                claims = self.tokens.verify(token, now=now)
            except TokenError:
                continue
            async with self.store.begin() as conn:
                await users.revoke_jti(conn, claims.jti, claims.expires_at, now=now)
            revoked += 1
        return revoked

    async def _api_token_principal(self, token: str, now: datetime) -> Principal:
        async with self.store.connect() as conn:
            row = await users.find_api_token(conn, api_tokens.digest(token))
            user = await users.get_user(conn, row.username) if row else None
        if row is None or user is None:
            raise InvalidToken()
        if row.expires_at is not None and row.expires_at <= now:
            raise TokenExpired()
        return Principal(user.username, user.role, user.tenant)

    # -- bootstrap ---------------------------------------------------------------------------

    async def bootstrap_admin(self, password: str | None) -> bool:
        """Create ``admin`` (role Admin, tenant default) with ``password`` when no user has
        the Admin role; returns whether it was created. Safe on several replicas at once."""
        async with self.store.connect() as conn:
            admins = await users.count_users(conn, role=ADMIN_ROLE)
            existing = await users.get_user(conn, BOOTSTRAP_USERNAME)
        if admins:
            return False
        if not password:
            log.warning("no administrator exists and LEOFLOW_BOOTSTRAP_PASSWORD is not set: "
                        "no admin was created, so nobody can log in to manage users. Set "
                        "LEOFLOW_BOOTSTRAP_PASSWORD and restart to create the user %r",
                        BOOTSTRAP_USERNAME)
            return False
        if existing is not None:
            log.warning("no administrator exists, but the user %r exists with role %s: not "
                        "changed; give it the Admin role by hand", BOOTSTRAP_USERNAME,
                        existing.role)
            return False
        if len(password) < 8:
            log.warning("LEOFLOW_BOOTSTRAP_PASSWORD is shorter than 8 characters; change "
                        "the admin's password")
        password_hash = await self.passwords.hash_async(password)
        async with self.store.begin() as conn:
            if await users.count_users(conn, role=ADMIN_ROLE):
                return False
            created = await users.create_user(conn, BOOTSTRAP_USERNAME,
                                              password_hash=password_hash, role=ADMIN_ROLE,
                                              tenant=DEFAULT_TENANT, now=self.clock())
        if created is not None:
            log.info("created the bootstrap administrator %r (tenant %s)", BOOTSTRAP_USERNAME,
                     DEFAULT_TENANT)
        return created is not None
