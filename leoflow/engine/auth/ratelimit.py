"""Login rate limiting that an attacker cannot turn against someone else.

Two keys count the failures of a login:

* the **username from this address** (``max_failures``, 5 by default): guessing one
  account's password from one place;
* the **address**, whatever the username (``address_max_failures``, 20): one client trying
  many accounts.

When a key reaches its limit it is locked (429 with ``Retry-After``) for ``window`` seconds
the first time, then twice as long at each new lock (backoff), up to ``max_lock``. A key is
forgotten once it stays quiet for ``window`` seconds after its last failure or lock.

There is deliberately no key for the username alone: with one, anybody anywhere could keep
``admin`` locked out by failing five times every five minutes. Failures from an address
never lock the same username at another address, so the administrator logs in from their
own machine while an attacker is locked out of theirs. Spreading guesses over many
addresses is slowed by the password hash's cost, not by a lock (docs/security.md).

An attempt counts as a failure from the moment it starts (``attempt``) and is forgiven when
it succeeds (``succeeded``): otherwise many concurrent guesses would all pass the check
before the first one failed. A success clears the username's failures at that address,
never the address's own count (else one valid account would reset it between guesses).
State is in memory and bounded: at most ``max_keys`` keys, the least recently used
forgotten first; a restart forgets everything.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_USERNAME_KEY = 256


@dataclass
class _Failures:
    count: int = 0        # failures since the last lock
    last: float = 0.0     # the last failure
    locked_until: float = 0.0
    locks: int = 0        # locks in a row: the backoff's exponent


@dataclass
class Attempt:
    """What ``attempt`` changed, so that ``succeeded`` can take it back."""

    stamp: float
    locked: dict[str, float] = field(default_factory=dict)  # key → the lock it started


class LoginRateLimiter:
    def __init__(self, *, max_failures: int = 5, window: float = 300.0,
                 address_max_failures: int = 20, max_lock: float = 24 * 3600.0,
                 max_keys: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.address_max_failures = max(address_max_failures, max_failures)
        self.window = window
        self.max_lock = max_lock
        self.max_keys = max_keys
        self.monotonic = monotonic
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    @staticmethod
    def keys(username: str, client: str) -> tuple[str, str]:
        """The (username at address) key and the address key."""
        return f"pair:{client}\x00{username[:MAX_USERNAME_KEY]}", f"addr:{client}"

    def _limits(self, username: str, client: str) -> tuple[tuple[str, int], ...]:
        pair, address = self.keys(username, client)
        return (pair, self.max_failures), (address, self.address_max_failures)

    def retry_after(self, username: str, client: str) -> int | None:
        """Seconds until this login may be tried again, or ``None`` when it may be now."""
        now = self.monotonic()
        waits = [state.locked_until - now for key, _limit in self._limits(username, client)
                 if (state := self._recent(key, now)) is not None and state.locked_until > now]
        return max(1, math.ceil(max(waits))) if waits else None

    def attempt(self, username: str, client: str) -> Attempt:
        """Count an attempt as failed until ``succeeded`` says otherwise."""
        now = self.monotonic()
        attempt = Attempt(now)
        for key, limit in self._limits(username, client):
            state = self._recent(key, now)
            if state is None:
                state = self._keys[key] = _Failures()
                while len(self._keys) > self.max_keys:
                    self._keys.popitem(last=False)
            self._keys.move_to_end(key)
            state.count += 1
            state.last = now
            if state.count >= limit:
                state.locks += 1
                state.count = 0
                state.locked_until = now + min(self.max_lock,
                                               self.window * 2 ** (state.locks - 1))
                attempt.locked[key] = state.locked_until
        return attempt

    def succeeded(self, username: str, client: str, attempt: Attempt) -> None:
        """Forget this username's failures at this address, and this attempt's mark on
        the address (with the lock it started, if it started one)."""
        pair, address = self.keys(username, client)
        self._keys.pop(pair, None)
        state = self._keys.get(address)
        if state is None:
            return
        if attempt.locked.get(address) == state.locked_until:
            state.locks -= 1
            state.locked_until = 0.0
            state.count = self.address_max_failures - 1
        elif state.count > 0:
            state.count -= 1
        if state.count == 0 and state.locks == 0:
            del self._keys[address]

    def __len__(self) -> int:
        return len(self._keys)

    def _recent(self, key: str, now: float) -> _Failures | None:
        state = self._keys.get(key)
        if state is None:
            return None
        if now >= max(state.last, state.locked_until) + self.window:
            del self._keys[key]
            return None
        return state
