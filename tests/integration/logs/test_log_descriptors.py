"""The log store holds no descriptor of a log between batches (issue 15, item 6): a log
deleted to free a full disk frees its space at once, even while its try still runs."""

from __future__ import annotations

import os
from pathlib import Path

from leoflow.engine.logs import LogKey, LogStore


def open_paths() -> set[str]:
    paths = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return paths


async def test_no_log_is_held_open_between_batches(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    key = LogKey("d", "r", "t", try_number=1, map_index=-1)
    try:
        await store.append_lines(key, "stdout", ["one", "two"])
        await store.flush(key)
        path = store.path(key)
        assert path.exists()
        assert not any(p.startswith(str(path)) for p in open_paths())  # before: held open
        path.unlink()
        await store.append_lines(key, "stdout", ["three"])  # the try goes on writing
        await store.flush(key)
        records, _ = await store.read(key)
        assert [r.event for r in records] == ["three"]
        assert not any(p.endswith("(deleted)") and str(tmp_path) in p for p in open_paths())
    finally:
        await store.finish(key)
        await store.close()
