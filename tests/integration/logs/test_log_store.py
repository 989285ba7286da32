"""One behaviour suite for task logs, run with each live fan-out bus (in-process, Redis)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leoflow.engine.logs import LogBus, LogKey, LogRecord, LogStore, LogWriteError

RUN_ID = "manual__2026-11-24T01:01:59.483583+00:00"
KEY = LogKey("etl", RUN_ID, "extract", 1)


def events(records: list[LogRecord]) -> list[str]:
    return [r.event for r in records]


async def collect(subscription: object) -> list[LogRecord]:
    return [r async for r in subscription]  # type: ignore[attr-defined]


async def test_records_are_ndjson_lines_with_three_fields(logs: LogStore) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    await logs.append(KEY, [LogRecord("started", "agent", "2026-01-02T03:04:05.000001+00:00"),
                            LogRecord('quote " and \\ and ✓ and \t tab')])
    await logs.append_lines(KEY, "stderr", ["warn 1", "warn 2"], moment)
    await logs.append_lines(KEY, "stdout", ["from epoch"], moment.timestamp())
    records, offset = await logs.read(KEY)
    assert [r.as_dict() for r in records[:1]] == [
        {"timestamp": "2026-01-02T03:04:05.000001+00:00", "stream": "agent", "event": "started"}]
    assert events(records) == ["started", 'quote " and \\ and ✓ and \t tab', "warn 1",
                               "warn 2", "from epoch"]
    assert [r.stream for r in records] == ["agent", "stdout", "stderr", "stderr", "stdout"]
    assert records[2].timestamp == records[4].timestamp == "2026-01-02T03:04:05.678000+00:00"
    assert datetime.fromisoformat(records[1].timestamp or "").tzinfo is not None  # filled in
    text = logs.path(KEY).read_text("utf-8")
    assert offset == len(text.encode())
    lines = text.splitlines()
    assert len(lines) == 5 and all(
        set(json.loads(line)) == {"timestamp", "stream", "event"} for line in lines)


async def test_read_pages_with_a_continuation_offset(logs: LogStore) -> None:
    await logs.append_lines(KEY, "stdout", [f"line {i}" for i in range(10)])
    seen: list[str] = []
    offset = 0
    while True:
        records, after = await logs.read(KEY, offset, limit=3)
        if not records:
            assert after == offset
            break
        assert len(records) <= 3
        seen += events(records)
        offset = after
    assert seen == [f"line {i}" for i in range(10)]
    await logs.append_lines(KEY, "stdout", ["later"])
    assert events((await logs.read(KEY, offset))[0]) == ["later"]
    with pytest.raises(ValueError):
        await logs.read(KEY, -1)


async def test_a_try_without_a_log_reads_empty(logs: LogStore) -> None:
    assert await logs.read(LogKey("etl", RUN_ID, "never", 1)) == ([], 0)
    assert await logs.read(LogKey("etl", RUN_ID, "never", 1), 7) == ([], 7)


async def test_tries_and_map_indexes_are_separate_files(logs: LogStore) -> None:
    keys = [KEY, LogKey("etl", RUN_ID, "extract", 2), LogKey("etl", RUN_ID, "extract", 1, 0)]
    for i, key in enumerate(keys):
        await logs.append_lines(key, "stdout", [f"try {i}"])
    for i, key in enumerate(keys):
        assert events((await logs.read(key))[0]) == [f"try {i}"]


async def test_logs_outlive_the_process_that_wrote_them(tmp_path: Path,
                                                        make_bus: Callable[[], LogBus]) -> None:
    writer = LogStore(tmp_path / "logs", bus=make_bus())
    await writer.append_lines(KEY, "stdout", ["one", "two"])
    await writer.finish(KEY)
    await writer.append_lines(LogKey("etl", RUN_ID, "other", 1), "stdout", ["unfinished"])
    await writer.close()  # e.g. the control plane stops with a try running
    reader = LogStore(tmp_path / "logs", bus=make_bus())
    assert events((await reader.read(KEY))[0]) == ["one", "two"]
    assert events((await reader.read(LogKey("etl", RUN_ID, "other", 1)))[0]) == ["unfinished"]
    await reader.close()


async def test_a_line_cut_by_a_crash_is_kept_apart(logs: LogStore) -> None:
    path = logs.path(KEY)
    path.parent.mkdir(parents=True)
    whole = json.dumps({"timestamp": "2026-01-01T00:00:00+00:00", "stream": "stdout",
                        "event": "whole"})
    path.write_bytes(whole.encode() + b'\n{"timestamp": "2026-01-01T00:0')
    # A reader never returns the unfinished line (it may still be being written)...
    records, offset = await logs.read(KEY)
    assert events(records) == ["whole"] and offset == len(whole) + 1
    # ...and a new writer ends it before writing its own lines.
    await logs.append_lines(KEY, "stdout", ["after restart"])
    records, _ = await logs.read(KEY)
    assert events(records) == ["whole", '{"timestamp": "2026-01-01T00:0', "after restart"]
    assert records[1].timestamp is None


async def test_subscribers_get_lines_written_after_subscribing(logs: LogStore) -> None:
    await logs.append_lines(KEY, "stdout", ["before"])
    await logs.flush(KEY)
    first = await logs.subscribe(KEY)
    second = await logs.subscribe(KEY)
    other = await logs.subscribe(LogKey("etl", RUN_ID, "other", 1))
    reading = asyncio.gather(collect(first), collect(second))
    await logs.append_lines(KEY, "stdout", ["a", "b"])
    await logs.append(KEY, [LogRecord("c", "stderr")])
    await logs.finish(KEY)
    got_first, got_second = await asyncio.wait_for(reading, 10)
    assert events(got_first) == events(got_second) == ["a", "b", "c"]
    assert got_first[2].stream == "stderr"
    assert first.offset == logs.path(KEY).stat().st_size
    await other.aclose()


async def test_a_late_subscriber_to_a_finished_try_ends_at_once(logs: LogStore) -> None:
    await logs.append_lines(KEY, "stdout", ["done"])
    await logs.finish(KEY)
    late = await logs.subscribe(KEY)
    assert await asyncio.wait_for(collect(late), 5) == []
    # A try written again (a writer resumed after a restart) is live again.
    await logs.append_lines(KEY, "stdout", ["resumed"])
    await logs.flush(KEY)
    live = await logs.subscribe(KEY)
    await logs.append_lines(KEY, "stdout", ["more"])
    await logs.finish(KEY)
    assert events(await asyncio.wait_for(collect(live), 5)) == ["more"]
    assert events((await logs.read(KEY))[0]) == ["done", "resumed", "more"]


async def test_finish_is_seen_by_another_process(tmp_path: Path,
                                                 make_bus: Callable[[], LogBus]) -> None:
    """The API replica that tails is not the one that writes (shared bus and folder)."""
    writer = LogStore(tmp_path / "logs", bus=make_bus())
    reader = LogStore(tmp_path / "logs", bus=make_bus())
    try:
        subscription = await reader.subscribe(KEY)
        tail = asyncio.create_task(_tail_all(reader, KEY))
        await asyncio.sleep(0.05)
        for i in range(5):
            await writer.append_lines(KEY, "stdout", [f"live {i}"])
            await asyncio.sleep(0.01)
        await writer.finish(KEY)
        assert events(await asyncio.wait_for(collect(subscription), 10)) == [
            f"live {i}" for i in range(5)]
        assert events(await asyncio.wait_for(tail, 10)) == [f"live {i}" for i in range(5)]
    finally:
        await writer.close()
        await reader.close()


async def _tail_all(logs: LogStore, key: LogKey, offset: int = 0,
                    delay: float = 0.0) -> list[LogRecord]:
    out: list[LogRecord] = []
    async for batch, _ in logs.tail(key, offset):
        out += batch
        if delay:
            await asyncio.sleep(delay)
    return out


async def test_tail_joins_stored_and_live_lines_exactly_once(logs: LogStore) -> None:
    await logs.append_lines(KEY, "stdout", [f"old {i}" for i in range(3)])
    _, offset_after_one = await logs.read(KEY, 0, limit=1)
    tail = asyncio.create_task(_tail_all(logs, KEY))
    from_offset = asyncio.create_task(_tail_all(logs, KEY, offset_after_one))
    await asyncio.sleep(0.05)
    for i in range(20):
        await logs.append_lines(KEY, "stdout", [f"new {i}"])
        if i % 5 == 0:
            await asyncio.sleep(0)
    await logs.finish(KEY)
    expected = [f"old {i}" for i in range(3)] + [f"new {i}" for i in range(20)]
    assert events(await asyncio.wait_for(tail, 10)) == expected
    assert events(await asyncio.wait_for(from_offset, 10)) == expected[1:]
    # Tailing a finished try reads it and stops.
    assert events(await asyncio.wait_for(_tail_all(logs, KEY), 10)) == expected


async def test_a_slow_subscriber_gets_a_marker_and_memory_stays_bounded(
        tmp_path: Path, make_bus: Callable[[], LogBus]) -> None:
    logs = LogStore(tmp_path / "logs", bus=make_bus(), subscriber_max_bytes=64 * 1024,
                    max_buffer_bytes=16 * 1024)
    try:
        slow = await logs.subscribe(KEY)
        lossless = asyncio.create_task(_tail_all(logs, KEY, delay=0.002))
        total = 20_000
        for start in range(0, total, 500):
            await logs.append_lines(KEY, "stdout", [f"line {i}" for i in
                                                     range(start, start + 500)])
        await logs.finish(KEY)
        received = await asyncio.wait_for(collect(slow), 20)
        markers = [r for r in received if r.event.startswith("[leoflow]")]
        lines = [r for r in received if not r.event.startswith("[leoflow]")]
        assert markers and all(r.stream == "agent" for r in markers)
        assert slow.dropped_lines > 0
        assert len(lines) + slow.dropped_lines == total
        assert sum(int(m.event.split()[1]) for m in markers) == slow.dropped_lines
        numbers = [int(r.event.split()[1]) for r in lines]
        assert numbers == sorted(numbers)  # what arrives, arrives in order
        assert slow.peak_bytes <= 64 * 1024 + 16 * 1024 + 4096
        assert logs.peak_pending_bytes < 16 * 1024 + 64 * 1024
        # tail() reads what it missed from the file: every line, once, in order.
        tailed = await asyncio.wait_for(lossless, 30)
        assert events(tailed) == [f"line {i}" for i in range(total)]
    finally:
        await logs.close()


async def test_concurrent_writers_and_finish_lose_nothing(tmp_path: Path,
                                                          make_bus: Callable[[], LogBus]) -> None:
    logs = LogStore(tmp_path / "logs", bus=make_bus(), max_buffer_bytes=512)

    async def writer(n: int) -> None:
        for i in range(20):
            await logs.append_lines(KEY, "stdout", [f"w{n} {i}"] * 3)

    tasks = [asyncio.create_task(writer(n)) for n in range(10)]
    await asyncio.sleep(0)
    await logs.finish(KEY)  # while the writers are still at it
    await asyncio.gather(*tasks)
    await logs.close()
    records, _ = await LogStore(tmp_path / "logs").read(KEY)
    assert len(records) == 10 * 20 * 3
    for n in range(10):
        mine = [r.event for r in records if r.event.startswith(f"w{n} ")]
        assert mine == [f"w{n} {i}" for i in range(20) for _ in range(3)]


async def test_bad_input_is_refused(logs: LogStore) -> None:
    with pytest.raises(ValueError, match="stream"):
        await logs.append_lines(KEY, "stdlog", ["x"])
    with pytest.raises(ValueError, match="timezone"):
        await logs.append_lines(KEY, "stdout", ["x"], datetime(2026, 1, 1))
    await logs.append_lines(KEY, "stdout", [])  # nothing to do
    assert not logs.path(KEY).exists()


async def test_a_write_failure_is_reported_not_swallowed(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the folder should be")
    logs = LogStore(tmp_path / "logs")
    await logs.append_lines(KEY, "stdout", ["lost"])
    with pytest.raises(LogWriteError) as caught:
        await logs.flush(KEY)
    assert str(logs.path(KEY).parent.parent.parent.parent) in str(caught.value)
    with pytest.raises(LogWriteError):
        await logs.append_lines(KEY, "stdout", ["again"])
    with pytest.raises(LogWriteError):
        await logs.finish(KEY)
    await logs.close()
