"""Login rate limiting: after ``max_failures`` failed logins within ``window`` seconds, a
username, or a client address, is refused (429 with ``Retry-After``) until the oldest of
those failures leaves the window.

Both keys count: the username stops a slow guess of one account from many addresses, the
address stops one client from trying many accounts. A successful login clears the
username's failures only (clearing the address would let an attacker with one valid account
reset its counter between guesses). An attempt counts as a failure from the moment it
starts (``attempt``) and is forgiven when it succeeds (``succeeded``): otherwise many
concurrent guesses would all pass the check before the first one failed. State is in
memory and bounded: at most ``max_keys`` keys, the least recently used forgotten first; a
restart forgets everything.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginRateLimiter:
    def __init__(self, *, max_failures: int = 5, window: float = 300.0,
                 max_keys: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        self.monotonic = monotonic
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def keys(username: str, client: str) -> tuple[str, str]:
        return f"user:{username[:256]}", f"addr:{client}"

    def retry_after(self, username: str, client: str) -> int | None:
        """Seconds until a login may be tried again, or ``None`` when it may be now."""
        now = self.monotonic()
        waits = []
        for key in self.keys(username, client):
            times = self._recent(key, now)
            if times is not None and len(times) >= self.max_failures:
                waits.append(times[0] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def attempt(self, username: str, client: str) -> float:
        """Count an attempt as failed until ``succeeded`` says otherwise; returns its stamp."""
        now = self.monotonic()
        for key in self.keys(username, client):
            times = self._recent(key, now)
            if times is None:
                times = deque(maxlen=self.max_failures)
                self._failures[key] = times
                while len(self._failures) > self.max_keys:
                    self._failures.popitem(last=False)
            self._failures.move_to_end(key)
            times.append(now)
        return now

    def succeeded(self, username: str, client: str, stamp: float) -> None:
        """Forget the username's failures and this attempt's mark on the address."""
        user_key, addr_key = self.keys(username, client)
        self._failures.pop(user_key, None)
        times = self._failures.get(addr_key)
        if times is not None:
            with contextlib.suppress(ValueError):  # already out of the window
                times.remove(stamp)
            if not times:
                del self._failures[addr_key]

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
