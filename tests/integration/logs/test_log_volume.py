"""A try that prints a million lines: every line stored, memory bounded, the loop responsive."""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from pathlib import Path

import pytest

from leoflow.engine.logs import LogKey, LogStore

LINES = 1_000_000
BATCH = 1000  # the agent ships lines in batches of about this size


@pytest.mark.slow
async def test_a_million_lines_are_stored_with_bounded_memory(tmp_path: Path) -> None:
    logs = LogStore(tmp_path / "logs")
    key = LogKey("chatty", "manual__2026-01-01T00:00:00+00:00", "print_a_lot", 1)
    never_reads = await logs.subscribe(key)  # a browser tab left open in the background
    worst_lag = 0.0
    done = asyncio.Event()

    async def probe() -> None:  # how long the event loop is ever kept from running us
        nonlocal worst_lag
        while not done.is_set():
            started = time.monotonic()
            await asyncio.sleep(0.005)
            worst_lag = max(worst_lag, time.monotonic() - started - 0.005)

    prober = asyncio.create_task(probe())
    padding = "x" * 40
    tracemalloc.start()
    try:
        started = time.monotonic()
        for first in range(0, LINES, BATCH):
            await logs.append_lines(key, "stdout",
                                    [f"{padding} {n}" for n in range(first, first + BATCH)],
                                    timestamp=time.time())
        await logs.finish(key)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        done.set()
        await prober
    path = logs.path(key)
    size = path.stat().st_size
    # Memory is bounded by the write queue and the subscriber's queue, not the log's size.
    assert size > 100 * 1024 * 1024
    assert peak < 24 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB"
    assert never_reads.peak_bytes <= logs.subscriber_max_bytes + logs.max_buffer_bytes + 4096
    assert never_reads.dropped_lines > 0
    assert worst_lag < 0.5, f"the event loop was blocked for {worst_lag:.3f} s"
    # Every line is in the file, in order.
    count = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
    assert count == LINES
    first_records, _ = await logs.read(key, 0, limit=2)
    assert [r.event for r in first_records] == [f"{padding} 0", f"{padding} 1"]
    with open(path, "rb") as f:
        f.seek(size - 200)
        last = json.loads(f.read().splitlines()[-1])
    assert last["event"] == f"{padding} {LINES - 1}" and last["stream"] == "stdout"
    await logs.close()
    print(f"1M lines: {elapsed:.2f} s, {size / 1e6:.0f} MB on disk, peak traced memory "
          f"{peak / 1e6:.1f} MB, worst event-loop lag {worst_lag * 1000:.0f} ms")
