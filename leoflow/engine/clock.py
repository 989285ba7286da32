"""Time for the engine: the real clock, and a manual one for tests that never sleep.

The scheduler loop and the trigger runner ask the clock for ``now()`` and for a callback at
a moment (a retry becoming due, a cron tick, a timeout, a trigger's poll). Nothing sleeps a
fixed interval. It lives at the engine's root, below both, so that the trigger runner needs
nothing of the scheduler that owns it (and services can stamp times the way the loop does).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def call_at(self, when: datetime, callback: Callable[[], None]) -> Timer: ...


class SystemClock:
    """Wall-clock time; callbacks run on the event loop via ``call_later``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, when: datetime, callback: Callable[[], None]) -> Timer:
        delay = max((when - self.now()).total_seconds(), 0.0)
        return asyncio.get_running_loop().call_later(delay, callback)


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when a test says so (``advance``); due callbacks run then."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._timers: list[tuple[datetime, int, _ManualTimer, Callable[[], None]]] = []
        self._counter = itertools.count()

    def now(self) -> datetime:
        return self._now

    def call_at(self, when: datetime, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer()
        heapq.heappush(self._timers, (when, next(self._counter), timer, callback))
        if when <= self._now:
            self._fire_due()
        return timer

    def advance(self, seconds: float = 0.0) -> None:
        self._now += timedelta(seconds=seconds)
        self._fire_due()

    def set(self, when: datetime) -> None:
        self._now = when
        self._fire_due()

    def pending(self) -> list[datetime]:
        """When the live timers are due, earliest first (for tests)."""
        return sorted(when for when, _, timer, _ in self._timers if not timer.cancelled)

    def _fire_due(self) -> None:
        while self._timers and self._timers[0][0] <= self._now:
            _, _, timer, callback = heapq.heappop(self._timers)
            if not timer.cancelled:
                callback()
