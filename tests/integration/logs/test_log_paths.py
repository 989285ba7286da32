"""Log paths: the documented layout, readable run ids, and no way out of the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leoflow.engine.logs import LogKey, LogRecord, LogStore, safe_component

RUN_ID = "manual__2026-11-24T01:01:59.483583+00:00"


def test_layout_per_try_and_map_index(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
    root = tmp_path.resolve()
    assert logs.path(LogKey("etl", RUN_ID, "extract", 1)) == (
        root / "etl" / RUN_ID / "extract" / "1.log")
    assert logs.path(LogKey("etl", RUN_ID, "square", 2, map_index=3)) == (
        root / "etl" / RUN_ID / "square" / "map_index=3" / "2.log")
    assert LogKey("etl", RUN_ID, "t", 0).channel == f"etl/{RUN_ID}/t/0.log"


@pytest.mark.parametrize("bad", ["..", ".", "...", "../../etc", "a/b", "/abs", "a\\b",
                                 "nul\x00byte", "%2e%2e", "new\nline", " spaced ", "ünï",
                                 "x" * 300])
def test_every_component_is_one_safe_name(bad: str) -> None:
    safe = safe_component(bad)
    assert safe not in ("", ".", "..")
    assert not any(c in safe for c in "/\\\x00\n ")
    assert len(safe.encode()) <= 200


def test_distinct_ids_never_share_a_file() -> None:
    ids = ["a/b", "a%2Fb", "a_b", "..", "%2E%2E", ".", "%2E", "a b", "a%20b", "x" * 300,
           "x" * 299 + "y", "ünï", "%C3%BCn%C3%AF"]
    assert len({safe_component(i) for i in ids}) == len(ids)


def test_bad_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        LogKey("", RUN_ID, "t", 1).relative_path()
    with pytest.raises(ValueError):
        LogKey("d", RUN_ID, "t", -1)
    with pytest.raises(ValueError):
        LogKey("d", RUN_ID, "t", 1, map_index=-2)


async def test_malicious_ids_stay_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "jail" / "logs"
    logs = LogStore(root)
    evil = ["..", "../..", "../../outside", "/etc/passwd", "a/../../b", "..\\..\\win", "\x00"]
    keys = [LogKey(d, r, t, 1) for d in evil[:3] for r in evil for t in evil[::3]]
    for key in keys:
        await logs.append(key, [LogRecord("pwned?")])
        await logs.finish(key)
    await logs.close()
    written = [Path(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    assert len(written) == len(set(keys))
    assert all(p.resolve().is_relative_to(root.resolve()) for p in written)
    assert all(len(p.relative_to(root).parts) == 4 for p in written)
    for key in keys:
        records, _ = await LogStore(root).read(key)
        assert [r.event for r in records] == ["pwned?"]
