"""Passwords made off the caller's thread: the dummy hash and prepared hashes are made in a
background thread, and what they give verifies as a hash made in place does."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from leoflow.engine.auth.passwords import Passwords

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def test_a_prepared_hash_is_taken_once_and_verifies() -> None:
    passwords = Passwords(CHEAP)
    passwords.prepare("first-password")
    prepared = passwords._prepared["first-password"]
    made = passwords.hash("first-password")
    assert made == prepared.result()  # the background result, not a new hash
    assert "first-password" not in passwords._prepared  # taken once
    assert passwords.verify(made, "first-password")
    assert not passwords.verify(made, "another-password")
    again = passwords.hash("first-password")  # nothing prepared now: made in place
    assert again != made and passwords.verify(again, "first-password")


def test_a_prepared_hash_is_only_for_its_password() -> None:
    passwords = Passwords(CHEAP)
    passwords.prepare("prepared-one")
    other = passwords.hash("not-prepared")
    assert passwords.verify(other, "not-prepared")
    assert not passwords.verify(other, "prepared-one")
    assert "prepared-one" in passwords._prepared


def test_an_unknown_user_is_verified_against_the_background_dummy() -> None:
    passwords = Passwords(CHEAP)
    assert not passwords.verify(None, "leoflow-no-such-user")  # the dummy's own password
    assert not passwords.verify(None, "anything")
    assert passwords._dummy.startswith("$argon2id$")


def test_a_failed_background_hash_is_raised_to_whoever_takes_it() -> None:
    class Broken(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            raise RuntimeError(f"cannot hash {len(password)} characters")

    passwords = Passwords(Broken())
    passwords.prepare("some-password")
    with pytest.raises(RuntimeError, match="cannot hash 13 characters"):
        passwords.hash("some-password")
