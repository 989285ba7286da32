"""The runner's timer heap: one clock callback for any number of waits."""

from __future__ import annotations

import asyncio

from leoflow.engine.clock import ManualClock
from leoflow.engine.triggers import TimerHeap


async def test_many_waits_share_one_clock_timer_and_fire_in_order():
    clock = ManualClock()
    fired: list[int] = []
    heap = TimerHeap(clock, fired.extend)
    base = clock.now().timestamp()
    for key in range(10_000):
        heap.set(key, base + 1 + (key * 7919) % 1000)  # scrambled, 1 … 1000 s ahead
    assert len(clock.pending()) == 1, "a single sleeper, armed for the earliest entry"
    for key in range(0, 10_000, 2):
        heap.cancel(key)
    heap.set(1, base + 5000)  # moved later
    clock.advance(1000)
    await asyncio.sleep(0)
    assert len(fired) == 4_999 and 1 not in fired and all(k % 2 for k in fired)
    due = [(k * 7919) % 1000 for k in fired]
    assert due == sorted(due), "earliest first"
    assert len(heap) == 1 and len(clock.pending()) == 1
    clock.advance(4000)
    await asyncio.sleep(0)
    assert fired[-1] == 1 and len(heap) == 0 and clock.pending() == []


async def test_a_due_entry_fires_from_the_loop_not_inside_set():
    clock = ManualClock()
    fired: list[int] = []
    heap = TimerHeap(clock, fired.extend)
    heap.set(7, clock.now().timestamp() - 10)
    assert fired == [], "never re-entrant"
    await asyncio.sleep(0)
    assert fired == [7]
