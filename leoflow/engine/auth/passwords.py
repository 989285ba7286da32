"""Password hashing with argon2id (argon2-cffi), off the event loop.

Hashing is deliberately slow (tens to hundreds of milliseconds), so the async methods run
it in a worker thread. A PHC hash string carries its own parameters: hashes made with older
parameters still verify, and ``needs_rehash`` says when to upgrade one after a login.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte "password" would be a cheap denial of service


class Passwords:
    """Hash and verify passwords. ``hasher`` sets the argon2 cost (tests pass a cheap one)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        # Verified against when the user does not exist, so that a wrong username takes as
        # long as a wrong password (no user enumeration by timing).
        self._dummy = self.hasher.hash("leoflow-no-such-user")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return self.hasher.verify(password_hash or self._dummy, password) and (
                password_hash is not None)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.verify, password_hash, password)


def password_problem(password: object) -> str | None:
    """Why a new password is refused, or ``None`` when it is acceptable."""
    if not isinstance(password, str):
        return "password must be a string"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must have at most {MAX_PASSWORD_LENGTH} characters"
    return None
