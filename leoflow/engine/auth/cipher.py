"""Encryption at rest of connection passwords, extras and variable values (Fernet).

``MultiFernet`` over the configured keys: the first key encrypts, every key decrypts, so a
key is rotated by putting the new one first and keeping the old one until ``rotate`` has
re-encrypted the stored values.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from leoflow.errors import LeoflowError


class DecryptionError(LeoflowError):
    """A stored secret cannot be decrypted with any configured key (the key changed)."""


class SecretCipher:
    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is required")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def generate(cls) -> SecretCipher:
        """A cipher with a fresh random key (tests, throwaway stores)."""
        return cls([Fernet.generate_key()])

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | None, *, what: str = "a secret") -> str | None:
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionError(
                f"cannot decrypt {what}: it was encrypted with a Fernet key that is not "
                "configured (set LEOFLOW_FERNET_KEY to the old key, or add it after a comma)"
            ) from exc

    def rotate(self, token: str | None) -> str | None:
        """Re-encrypt with the first key."""
        if token is None:
            return None
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")
