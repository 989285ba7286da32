"""API tokens for CI: long random bearer tokens acting as one user, stored hashed.

A token looks like ``lfat_<43 url-safe characters>`` (256 random bits): the prefix tells it
apart from a JWT and makes a leaked token easy to find with secret scanners. Only its
SHA-256 is stored (a fast hash is right here: the token is random, not a guessable
password). The plain token is shown once, to whoever created it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.auth.errors import InvalidInput, NotFoundError
from leoflow.engine.store import users
from leoflow.engine.store.types import utcnow

API_TOKEN_PREFIX = "lfat_"
MAX_EXPIRY_DAYS = 3650


def looks_like_api_token(token: str) -> bool:
    return token.startswith(API_TOKEN_PREFIX)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_api_token(conn: AsyncConnection, username: str, *,
                           expires_in_days: float | None = None,
                           description: str | None = None,
                           now: datetime | None = None) -> tuple[str, users.ApiTokenRow]:
    """Mint a token for an existing user; returns ``(plain token, stored row)``. The caller
    commits, then shows the plain token once."""
    now = now or utcnow()
    if await users.get_user(conn, username) is None:
        raise NotFoundError(f"The user `{username}` was not found", field="username")
    expires_at = None
    if expires_in_days is not None:
        if not 0 < expires_in_days <= MAX_EXPIRY_DAYS:
            raise InvalidInput(f"expires_in_days must be between 0 and {MAX_EXPIRY_DAYS}, "
                               f"got {expires_in_days}", field="expires_in_days")
        expires_at = now + timedelta(days=expires_in_days)
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await users.add_api_token(conn, username, digest(token), description=description,
                                    expires_at=expires_at, now=now)
    return token, row
