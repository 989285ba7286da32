"""The polling kinds through the real path: a file appearing on disk, an HTTP server on
127.0.0.1 turning 200, another DAG's task succeeding (woken by the scheduler's events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.scheduler.conftest import spec, task
from tests.integration.triggers.conftest import advance, sensor, settle, trigger


async def test_file_sensor_fires_when_the_file_appears(any_harness, tmp_path: Path):
    h = any_harness
    target = tmp_path / "incoming" / "data.csv"
    await h.register(spec("files", sensor("wait", trigger=trigger(
        "file", filepath=str(tmp_path / "incoming" / "*.csv"), poke_interval=30)),
        task("load", "wait")))
    run_id = await h.trigger("files")
    await settle(h)
    ti = await h.ti("files", run_id, "wait")
    assert ti.state == "deferred"
    assert "a file matching" in h.scheduler.triggers.waiting_for(ti.trigger_id)
    await advance(h, 30)
    assert (await h.ti("files", run_id, "wait")).state == "deferred"
    target.parent.mkdir()
    target.write_text("a,b\n")
    await advance(h, 29)
    assert (await h.ti("files", run_id, "wait")).state == "deferred", "polls every 30 s"
    await advance(h, 1)
    assert (await h.ti("files", run_id, "wait")).state == "success"
    assert h.executor.started_ids() == ["load"]


class _Endpoint:
    """A real HTTP server on 127.0.0.1 answering ``status`` (changed by the test)."""

    def __init__(self) -> None:
        self.status = 404
        self.hits = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.hits += 1
        body = b'{"ready": true}' if self.status == 200 else b"not yet"
        writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(body)}\r\n"
                     "Connection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()


@pytest.fixture
async def endpoint() -> AsyncIterator[_Endpoint]:
    e = _Endpoint()
    e.server = await asyncio.start_server(e.handle, "127.0.0.1", 0)
    e.port = e.server.sockets[0].getsockname()[1]
    yield e
    e.server.close()
    await e.server.wait_closed()


async def test_http_sensor_waits_through_404_and_fires_on_200(harness, endpoint):
    h = harness
    url = f"http://127.0.0.1:{endpoint.port}/ready"
    await h.register(spec("http", sensor("wait", trigger=trigger(
        "http", url=url, poke_interval=10))))
    run_id = await h.trigger("http")
    await settle(h)
    ti = await h.ti("http", run_id, "wait")
    assert ti.state == "deferred" and endpoint.hits == 1
    assert "(last: 404)" in h.scheduler.triggers.waiting_for(ti.trigger_id)
    endpoint.status = 200
    await advance(h, 10)
    assert endpoint.hits == 2
    assert (await h.ti("http", run_id, "wait")).state == "success"


async def test_http_sensor_resolves_http_conn_id(harness, endpoint, monkeypatch):
    h = harness
    monkeypatch.setenv("AIRFLOW_CONN_MY_API",
                       f'{{"conn_type": "http", "host": "127.0.0.1", "port": {endpoint.port}}}')
    endpoint.status = 200
    await h.register(spec("conn", sensor("wait", trigger=trigger(
        "http", http_conn_id="my_api", endpoint="health", poke_interval=10))))
    run_id = await h.trigger("conn")
    await settle(h)
    assert endpoint.hits == 1
    assert (await h.ti("conn", run_id, "wait")).state == "success"


async def test_http_sensor_keeps_waiting_while_nothing_listens(harness):
    h = harness
    await h.register(spec("down", sensor("wait", trigger=trigger(
        "http", url="http://127.0.0.1:9/nothing", poke_interval=10))))
    run_id = await h.trigger("down")
    await settle(h)
    ti = await h.ti("down", run_id, "wait")
    assert ti.state == "deferred"
    assert "ConnectError" in h.scheduler.triggers.waiting_for(ti.trigger_id)


def _watcher(**kwargs) -> dict:
    return spec("watcher", sensor("wait_for_a", trigger=trigger(
        "external_task", external_dag_id="upstream", external_task_ids=["a"],
        allowed_states=["success"], failed_states=kwargs.pop("failed_states", []),
        skipped_states=[], execution_delta=None, poke_interval=3600)), task("after",
                                                                           "wait_for_a"))


async def test_external_task_sensor_fires_when_the_other_dags_task_succeeds(any_harness):
    h = any_harness
    await h.register(spec("upstream", task("a")))
    await h.register(_watcher())
    when = h.clock.now()
    up = await h.trigger("upstream", logical_date=when)
    watch = await h.trigger("watcher", logical_date=when)
    await settle(h)
    ti = await h.ti("watcher", watch, "wait_for_a")
    assert ti.state == "deferred"
    assert "now: queued" in h.scheduler.triggers.waiting_for(ti.trigger_id)
    # No clock movement: the scheduler's ti.finished event wakes the trigger at once, an
    # hour before its next poll.
    await h.finish("a", run_id=up)
    await settle(h)
    assert (await h.ti("watcher", watch, "wait_for_a")).state == "success"
    assert "after" in h.executor.started_ids()


async def test_external_task_sensor_fails_on_a_failed_state(harness):
    h = harness
    await h.register(spec("upstream", task("a")))
    await h.register(_watcher(failed_states=["failed"]))
    when = h.clock.now()
    up = await h.trigger("upstream", logical_date=when)
    watch = await h.trigger("watcher", logical_date=when)
    await h.finish("a", "failed", run_id=up)
    await settle(h)
    ti = await h.ti("watcher", watch, "wait_for_a")
    assert ti.state == "failed"
    async with h.store.connect() as conn:
        from leoflow.engine.store import task_instances

        tries = await task_instances.list_tries(conn, ti.dag_run_id, "wait_for_a")
    assert "upstream at" in tries[-1].error and "failed" in tries[-1].error


async def test_every_poll_and_the_firing_are_in_the_trys_log(migrated_sqlite_url, clock,
                                                             executor, tmp_path: Path):
    from leoflow.engine.logs import LogKey, LogStore
    from leoflow.engine.scheduler.loop import Scheduler
    from leoflow.engine.services import Operations, assets
    from leoflow.engine.store import Store
    from tests.integration.scheduler.conftest import Harness

    store = await Store.open(migrated_sqlite_url)
    logs = LogStore(tmp_path / "logs")
    scheduler = Scheduler(store, {"scripted": executor}, assets=assets, clock=clock,
                          trigger_logs=logs)
    await scheduler.start()
    h = Harness(store, clock, executor, scheduler, Operations(store, scheduler, clock=clock))
    try:
        target = tmp_path / "flag"
        await h.register(spec("logged", sensor("wait", trigger=trigger(
            "file", filepath=str(target), poke_interval=5))))
        run_id = await h.trigger("logged")
        await settle(h)
        target.write_text("x")
        await advance(h, 5)
        assert (await h.ti("logged", run_id, "wait")).state == "success"
        records, _ = await logs.read(LogKey("logged", run_id, "wait", try_number=1))
        lines = [(r.stream, r.event) for r in records]
        assert lines[0][0] == "agent" and lines[0][1].startswith(
            f"trigger: deferred: waiting for a file matching {target}")
        assert any(line.startswith("trigger: poll: still waiting for a file matching")
                   for _, line in lines)
        assert lines[-1][1].startswith(f"trigger: fired: file {target} appeared")
    finally:
        await scheduler.stop()
        await logs.close()
        await store.close()


async def test_an_event_that_arrives_during_a_poll_makes_the_trigger_poll_again_at_once(
        harness, monkeypatch):
    """The other DAG's task fails while the sensor's poll is reading it: that poll saw the
    task still queued, so the runner polls again at once instead of an hour later."""
    from leoflow.engine.triggers import external

    h = harness
    await h.register(spec("upstream", task("a")))
    await h.register(_watcher(failed_states=["failed"]))
    when = h.clock.now()
    up = await h.trigger("upstream", logical_date=when)
    read, release = asyncio.Event(), asyncio.Event()
    real_poll = external.poll

    async def poll_held_after_reading(*args, **kwargs):
        result = await real_poll(*args, **kwargs)  # reads the upstream task: queued
        if not release.is_set():
            read.set()
            await release.wait()
        return result

    monkeypatch.setattr(external, "poll", poll_held_after_reading)
    watch = await h.trigger("watcher", logical_date=when)
    await asyncio.wait_for(read.wait(), 10)
    await h.finish("a", "failed", run_id=up)  # ti.finished arrives during the poll
    release.set()
    await settle(h)
    assert (await h.ti("watcher", watch, "wait_for_a")).state == "failed"
