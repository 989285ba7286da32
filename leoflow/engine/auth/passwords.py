"""Password hashing with argon2id (argon2-cffi), off the event loop.

Hashing is deliberately slow (tens to hundreds of milliseconds), so the async methods run
it in a worker thread. A PHC hash string carries its own parameters: hashes made with older
parameters still verify, and ``needs_rehash`` says when to upgrade one after a login.

No hash is made on the caller's thread at construction: the dummy hash (what an unknown
username is verified against) and any hash announced with ``prepare`` are made in a
background thread. argon2's C code releases the GIL, so on a start (Lite's first start
hashes the new admin's password) they cost no time on the event loop's thread: a server
builds its app while they run, and the first ``verify`` or ``hash`` waits for them if it
comes sooner.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future

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
        self._dummy_hash = _in_background(self.hasher.hash, "leoflow-no-such-user")
        self._prepared: dict[str, Future[str]] = {}
        self._lock = threading.Lock()

    @property
    def _dummy(self) -> str:
        return self._dummy_hash.result()

    def prepare(self, password: str) -> None:
        """Start hashing ``password`` now, in a background thread: the next ``hash`` of the
        same password takes that result (argon2 salts each hash, so it is as good as a new
        one) instead of hashing on the caller's time."""
        with self._lock:
            if password not in self._prepared:
                self._prepared[password] = _in_background(self.hasher.hash, password)

    def hash(self, password: str) -> str:
        with self._lock:
            prepared = self._prepared.pop(password, None)
        if prepared is not None:
            return prepared.result()
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


def _in_background(make: Callable[[str], str], password: str) -> Future[str]:
    """``make(password)`` in a daemon thread; its result (or error) in the returned future."""
    future: Future[str] = Future()

    def run() -> None:
        try:
            future.set_result(make(password))
        except BaseException as exc:  # given to whoever waits for the hash
            future.set_exception(exc)

    threading.Thread(target=run, name="leoflow-password-hash", daemon=True).start()
    return future


def password_problem(password: object) -> str | None:
    """Why a new password is refused, or ``None`` when it is acceptable."""
    if not isinstance(password, str):
        return "password must be a string"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must have at most {MAX_PASSWORD_LENGTH} characters"
    return None
