"""``Scheduler.drain()``: the batch in progress finishes whole, nothing starts afterwards.

Lite's Ctrl-C drains the scheduler before it fails what was in flight (app/lite_stop.py);
tests/integration/lite/test_lite_drain.py stops a real ``leoflow lite`` with SIGINT.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store import task_instances
from tests.integration.scheduler.conftest import make_harness, spec, task
from tests.integration.scheduler.scripted_executor import ScriptedExecutor

HOURLY = {"kind": "cron", "expression": "@hourly"}
REASON = "stopping: not started"


class GatedExecutor(ScriptedExecutor):
    """Holds the start of ``gated`` until the test opens the gate: a batch caught in the
    middle of handing out its launches."""

    def __init__(self, gated: str) -> None:
        super().__init__()
        self.gated = gated
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        if launch.task_id == self.gated:
            self.entered.set()
            await self.gate.wait()
        await super().start(launch, task)


async def test_drain_waits_for_the_batch_in_progress_and_starts_nothing_after(
        migrated_sqlite_url, clock):
    executor = GatedExecutor(gated="a")
    h = await make_harness(migrated_sqlite_url, clock, executor)
    heard: list[tuple[str, dict[str, Any]]] = []
    h.scheduler.add_listener(lambda kind, data: heard.append((kind, data)))
    try:
        await h.register(spec("tick", task("t"), schedule=HOURLY, start_date="2026-01-01"))
        await h.finish("t")
        assert h.scheduler.timer_due("cron", "tick")
        # a and b are handed out in one batch (a first: higher priority); c waits for a.
        await h.register(spec("pair", task("a", priority_weight=2), task("b", retries=2),
                              task("c", "a", trigger_rule="all_done")))
        run = await h.ops.trigger_run("pair")
        await asyncio.wait_for(executor.entered.wait(), 10)  # the batch is mid-launch

        drain = asyncio.create_task(h.scheduler.drain(REASON))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not drain.done(), "drain returned while a batch was half done"
        assert h.scheduler.draining
        executor.gate.set()
        await asyncio.wait_for(drain, 10)

        # The batch finished whole before drain returned: both launches were dealt with
        # (a had begun starting before the drain; b, after it, was not started) and the
        # listeners heard of both.
        assert [launch.task_id for launch in executor.started] == ["t", "a"]
        queued = [data["task_id"] for kind, data in heard if kind == "ti.queued"]
        assert queued[-2:] == ["a", "b"]
        # Nothing of its own: no timer, no trigger runner, no watchers.
        assert not h.scheduler.timer_due("cron", "tick")
        assert not h.scheduler.triggers.running and not h.scheduler.watchers.running

        await h.scheduler.idle()
        b = await h.ti("pair", run.run_id, "b")
        assert (b.state, b.try_number, b.start_date, b.hostname) == ("failed", 1, None, None)
        async with h.store.connect() as conn:
            (attempt,) = await task_instances.list_tries(conn, b.dag_run_id, "b")
        assert attempt.error == REASON  # failed without retry (it had two), never started

        # Reports still apply: a ends, c (all_done) is due, and is failed, not started.
        await executor.finish("a", "failed")
        await h.scheduler.idle()
        assert await h.states("pair", run.run_id) == {"a": "failed", "b": "failed",
                                                      "c": "failed"}
        assert await h.run_state("pair", run.run_id) == "failed"
        assert [launch.task_id for launch in executor.started] == ["t", "a"]

        # No cron tick creates a run while draining.
        before = len(await h.runs("tick"))
        clock.advance(timedelta(hours=3).total_seconds())
        h.scheduler.wake_dag("tick")
        await h.scheduler.idle()
        assert len(await h.runs("tick")) == before
        assert [launch.task_id for launch in executor.started] == ["t", "a"]
    finally:
        executor.gate.set()
        await h.scheduler.stop()
        await h.store.close()


async def test_a_drained_scheduler_started_again_schedules_as_before(migrated_sqlite_url,
                                                                    clock):
    executor = ScriptedExecutor()
    h = await make_harness(migrated_sqlite_url, clock, executor)
    try:
        await h.register(spec("again", task("a")))
        await h.scheduler.drain()
        await h.scheduler.stop()
        await h.scheduler.start()
        assert not h.scheduler.draining
        run_id = await h.trigger("again")
        assert [launch.task_id for launch in executor.started] == ["a"]
        await h.finish("a")
        assert await h.run_state("again", run_id) == "success"
    finally:
        await h.scheduler.stop()
        await h.store.close()
