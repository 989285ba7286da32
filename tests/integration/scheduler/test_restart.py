"""Restart safety: a new scheduler on the same store resumes what the old one left.

The old scheduler is stopped with tries queued and running; a new one (with a new scripted
executor, as after a process restart) must resume the active runs and ask the executor to
reconcile the in-flight tries.
"""

from __future__ import annotations

import pytest

from leoflow.engine.store import Store
from tests.integration.scheduler.conftest import Harness, make_harness, spec, task
from tests.integration.scheduler.scripted_executor import ScriptedExecutor


@pytest.fixture
async def restart(db_url, clock):
    """``await restart(h, lost=...)``: stop ``h``'s scheduler, start a new one on its store."""
    store = await Store.open(db_url, auto_migrate=True)
    made: list[Harness] = []

    async def first() -> Harness:
        h = await make_harness(db_url, clock, ScriptedExecutor(), store=store)
        made.append(h)
        return h

    async def again(old: Harness, *, lost: bool) -> Harness:
        await old.scheduler.stop()
        executor = ScriptedExecutor()
        executor.lost_on_reconcile = lost
        h = await make_harness(db_url, clock, executor, store=store)
        made.append(h)
        return h

    again.first = first  # type: ignore[attr-defined]
    yield again
    for h in made:
        await h.scheduler.stop()
    await store.close()


async def test_lost_tries_are_retried_or_failed_and_the_runs_finish(restart):
    h = await restart.first()
    await h.register(spec("rs", task("queued_one", retries=1, retry_delay=10.0),
                          task("running_one"), task("after", "running_one",
                                                    trigger_rule="all_done")))
    run_id = await h.trigger("rs")
    await h.running("running_one")
    before = {s.task_id: (s.ti_id, s.try_number) for s in h.executor.started}

    h2 = await restart(h, lost=True)
    # Only the try that started is the executor's to find; it lost it: failed (no retries).
    assert [(r.task_id, r.ti_id, r.try_number) for r in h2.executor.reconciled] == [
        ("running_one", *before["running_one"])]
    # The queued one never started: launched again at once, in the same try (no retry
    # spent, no retry delay waited).
    assert await h2.states("rs", run_id) == {"queued_one": "queued",
                                              "running_one": "failed", "after": "queued"}
    assert sorted((s.task_id, s.try_number) for s in h2.executor.started) == [
        ("after", 1), ("queued_one", 1)]
    await h2.finish("queued_one")
    await h2.finish("after")
    assert await h2.run_state("rs", run_id) == "success"
    assert (await h2.ti("rs", run_id, "queued_one")).try_number == 1


async def test_tries_still_alive_report_to_the_new_scheduler(restart):
    h = await restart.first()
    await h.register(spec("alive", task("a", execution_timeout=100.0), task("b", "a")))
    run_id = await h.trigger("alive")
    await h.running("a")
    await h.advance(30)

    h2 = await restart(h, lost=False)
    (launch,) = h2.executor.reconciled
    assert (launch.task_id, launch.try_number, launch.execution_timeout) == ("a", 1, 100.0)
    # The executor kept the try; the new scheduler re-armed its execution_timeout (70 s left).
    h2.executor.started.append(launch)
    await h2.advance(69)
    assert (await h2.ti("alive", run_id, "a")).state == "running"
    await h2.advance(1)
    assert h2.executor.cancelled == [(launch.ti_id, "execution_timeout")]
    assert await h2.states("alive", run_id) == {"a": "failed", "b": "upstream_failed"}


async def test_a_reconciled_try_finishing_later_lets_the_run_continue(restart):
    h = await restart.first()
    await h.register(spec("later", task("a"), task("b", "a")))
    run_id = await h.trigger("later")
    h2 = await restart(h, lost=False)
    h2.executor.started.extend(h2.executor.reconciled)
    await h2.finish("a")
    assert await h2.states("later", run_id) == {"a": "success", "b": "queued"}
    await h2.finish("b")
    assert await h2.run_state("later", run_id) == "success"


async def test_queued_runs_resume_after_a_restart(restart):
    h = await restart.first()
    await h.register(spec("waits", task("a"), max_active_runs=1))
    first = await h.trigger("waits")
    h.clock.advance(1)
    second = await h.trigger("waits")
    h2 = await restart(h, lost=False)
    h2.executor.started.extend(h2.executor.reconciled)
    assert await h2.run_state("waits", second) == "queued"
    await h2.finish("a", run_id=first)
    assert await h2.run_state("waits", first) == "success"
    assert await h2.run_state("waits", second) == "running"
    await h2.finish("a", run_id=second)
    assert await h2.run_state("waits", second) == "success"


async def test_a_retry_due_while_the_scheduler_was_down_runs_after_the_restart(restart):
    h = await restart.first()
    await h.register(spec("due", task("a", retries=1, retry_delay=60.0)))
    run_id = await h.trigger("due")
    await h.finish("a", "failed")
    await h.scheduler.stop()
    h.clock.advance(3600)  # no scheduler to notice
    h2 = await restart(h, lost=False)
    assert [s.try_number for s in h2.executor.started] == [2]
    await h2.finish("a")
    assert await h2.run_state("due", run_id) == "success"


async def test_dagrun_timeout_is_re_armed_after_a_restart(restart):
    h = await restart.first()
    await h.register(spec("deadline", task("a"), dagrun_timeout=100.0))
    run_id = await h.trigger("deadline")
    await h.advance(40)
    h2 = await restart(h, lost=False)
    await h2.advance(59)
    assert await h2.run_state("deadline", run_id) == "running"
    await h2.advance(1)
    assert await h2.run_state("deadline", run_id) == "failed"


async def test_cron_timer_is_set_again_after_a_restart(restart):
    h = await restart.first()
    await h.register(spec("cron", task("a", operator="empty"),
                          schedule={"kind": "cron", "expression": "@hourly"},
                          start_date="2026-01-01"))
    assert len(await h.runs("cron")) == 1
    h2 = await restart(h, lost=False)
    await h2.advance(3600)
    assert len(await h2.runs("cron")) == 2
