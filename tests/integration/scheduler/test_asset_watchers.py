"""Asset watchers on a real store and scheduler (``triggers.asset_watchers``): which watchers
run (Airflow's rule: an asset's watchers run while an active DAG schedules on it), a trigger
shared by two assets, and what a file that appears becomes (events with Airflow's extra and
the consumer runs, created by ``services.assets.create_event``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from leoflow.engine.store import assets as st
from leoflow.engine.triggers.asset_watchers import target
from leoflow.engine.triggers.base import TriggerError
from tests.integration.scheduler.conftest import Harness, spec, task


def watched_asset(name: str, trigger: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "uri": f"file://{name}", "group": "asset", "extra": {},
            "watchers": [{"name": f"{name}_watcher", "trigger": trigger}]}


def file_delete(path: Path, **kwargs: Any) -> dict[str, Any]:
    return {"kind": "file_delete",
            "kwargs": {"filepath": str(path), "poke_interval": 0.05, **kwargs}}


def ref(name: str) -> dict[str, Any]:
    return {"asset": {"name": name, "uri": f"file://{name}", "group": "asset"}}


def consumer(dag_id: str, *declared: dict[str, Any]) -> dict[str, Any]:
    condition = {"any": [ref(a["name"]) for a in declared]}
    return spec(dag_id, task("use"), schedule={"kind": "assets", "assets": condition},
                assets=list(declared))


async def asset_runs(h: Harness, dag_id: str) -> list[Any]:
    return [r for r in await h.runs(dag_id) if r.run_type == "asset_triggered"]


async def until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_watchers_follow_airflows_rule(harness: Harness, tmp_path: Path) -> None:
    h = harness
    watchers = h.scheduler.watchers
    inbox = watched_asset("inbox", file_delete(tmp_path / "in.csv"))
    await h.register(consumer("c", inbox))
    # a producer's watcher on an asset nobody schedules on does not run
    lonely = watched_asset("lonely", file_delete(tmp_path / "lonely.csv"))
    await h.register(spec("p", task("make", outlets=[ref("lonely")]), assets=[lonely]))
    await watchers.refresh()
    assert [w["watchers"] for w in watchers.status()] == ["inbox_watcher"]
    # paused: not watched; unpaused again: watched
    await h.ops.set_paused("c", True)
    await watchers.refresh()
    assert watchers.status() == []
    await h.ops.set_paused("c", False)
    await watchers.refresh()
    assert len(watchers.status()) == 1
    # a new version without the watcher stops it
    await h.register(consumer("c", {**inbox, "watchers": []}))
    await watchers.refresh()
    assert watchers.status() == []
    async with h.store.connect() as conn:
        assert await st.list_watchers(conn, active_only=False) == [
            st.WatcherRow(asset_id=(await st.get_asset_by_name(
                conn, tenant="default", name="lonely")).id, dag_id="p",
                name="lonely_watcher", trigger=lonely["watchers"][0]["trigger"])]


async def test_a_shared_trigger_emits_for_each_asset_and_keeps_watching(
        harness: Harness, tmp_path: Path) -> None:
    h = harness
    path = tmp_path / "flag"
    shared = file_delete(path)
    await h.register(consumer("c1", watched_asset("one", shared)))
    await h.register(consumer("c2", watched_asset("two", shared)))
    await h.scheduler.watchers.refresh()
    (status,) = h.scheduler.watchers.status()
    assert len(status["assets"]) == 2
    for count in (1, 2):
        path.write_text("x")

        async def made(n: int = count) -> bool:
            return len(await asset_runs(h, "c1")) == n and len(await asset_runs(h, "c2")) == n

        await until(made)
        assert not path.exists()
    async with h.store.connect() as conn:
        events, _ = await st.list_events(conn, tenant="default")
    assert len(events) == 4
    assert {(e.asset_name, str(e.extra)) for e in events} == {
        ("one", "{'from_trigger': True, 'payload': True}"),
        ("two", "{'from_trigger': True, 'payload': True}")}


async def test_a_directory_trigger_names_the_file_it_took(harness: Harness,
                                                          tmp_path: Path) -> None:
    h = harness
    trigger = {"kind": "file_delete", "kwargs": {"directory": str(tmp_path),
                                                 "filename": "us.flag", "poke_interval": 0.05}}
    await h.register(consumer("c", watched_asset("flags", trigger)))
    await h.scheduler.watchers.refresh()
    (tmp_path / "eu.flag").write_text("")
    (tmp_path / "us.flag").write_text("")

    async def made() -> bool:
        return len(await asset_runs(h, "c")) == 1

    await until(made)
    assert (tmp_path / "eu.flag").exists() and not (tmp_path / "us.flag").exists()
    async with h.store.connect() as conn:
        (event,), _ = await st.list_events(conn, tenant="default")
    assert event.extra == {"from_trigger": True,
                           "payload": {"filepath": str(tmp_path / "us.flag")}}


def test_bad_watcher_triggers_are_named() -> None:
    with pytest.raises(TriggerError, match="cannot run trigger kind 'http'") as err:
        target("http", {})
    assert err.value.field == "watchers.trigger.kind"
    with pytest.raises(TriggerError, match="needs filepath, or directory and filename"):
        target("file_delete", {"directory": "/tmp"})
    assert target("file_delete", {"directory": "/d", "filename": "f"}) == "/d/f"
