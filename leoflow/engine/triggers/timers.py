"""One timer structure for every time-based wait of the trigger runner.

A binary heap of ``(due, key)`` pairs with a single sleeper: one clock callback armed for
the earliest entry, re-armed when that entry changes. 100,000 waits therefore cost 100,000
small tuples and one loop handle, not 100,000 sleeping coroutines, and an idle runner does
no work at all until the next entry is due. Cancelling is lazy (the entry stays in the heap
and is skipped when it surfaces); the heap is rebuilt when stale entries outnumber live ones.

Times are epoch seconds (floats, compact); the clock is the scheduler's ``Clock``, so tests
drive it with ``ManualClock``.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from datetime import UTC, datetime

from leoflow.engine.clock import Clock, Timer

# Entries due within this many seconds of "now" fire together (the clock's callback may run
# a hair early: the event loop's monotonic clock and the wall clock drift apart slightly).
EPSILON = 0.002


class TimerHeap:
    """Keys (ints) due at epoch times; ``on_due(keys)`` is called with every key that is due.

    Setting a key again moves it; ``cancel`` forgets it. ``on_due`` runs from the event loop
    (never re-entrantly from ``set``), so it may set and cancel keys itself.
    """

    def __init__(self, clock: Clock, on_due: Callable[[list[int]], None]) -> None:
        self.clock = clock
        self.on_due = on_due
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, float] = {}
        self._armed: Timer | asyncio.Handle | None = None
        self._armed_at: float | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: int) -> bool:
        return key in self._live

    def due_of(self, key: int) -> float | None:
        return self._live.get(key)

    def set(self, key: int, when: float) -> None:
        """Call ``on_due`` with ``key`` at ``when`` (epoch seconds); replaces an earlier set."""
        self._live[key] = when
        heapq.heappush(self._heap, (when, key))
        if self._armed_at is None or when < self._armed_at:
            self._arm()

    def cancel(self, key: int) -> None:
        if self._live.pop(key, None) is not None and len(self._heap) > 2 * len(self._live) + 64:
            self._heap = [(w, k) for w, k in self._heap if self._live.get(k) == w]
            heapq.heapify(self._heap)

    def close(self) -> None:
        self._closed = True
        self._disarm()
        self._heap.clear()
        self._live.clear()

    # -- the single sleeper ------------------------------------------------------------------
    def _disarm(self) -> None:
        if self._armed is not None:
            self._armed.cancel()
        self._armed = None
        self._armed_at = None

    def _arm(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        self._disarm()
        if not heap or self._closed:
            return
        when = heap[0][0]
        self._armed_at = when
        if when <= self.clock.now().timestamp() + EPSILON:
            # Already due: from the loop, never from inside ``set`` (no re-entrancy).
            self._armed = asyncio.get_running_loop().call_soon(self._fire)
        else:
            self._armed = self.clock.call_at(datetime.fromtimestamp(when, UTC), self._fire)

    def _fire(self) -> None:
        self._armed = None
        self._armed_at = None
        if self._closed:
            return
        now = self.clock.now().timestamp() + EPSILON
        heap, live = self._heap, self._live
        due: list[int] = []
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if live.get(key) == when:
                del live[key]
                due.append(key)
        self._arm()
        if due:
            self.on_due(due)
