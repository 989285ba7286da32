"""The loop's in-memory views are never trusted over the database, and no report is lost."""

from __future__ import annotations

import pytest

from leoflow.engine.store import runs, task_instances
from tests.integration.scheduler.conftest import spec, task


async def test_a_change_made_behind_the_scheduler_s_back_is_noticed(any_harness):
    """Someone changes a task instance without clearing the run's token (a bug elsewhere):
    the scheduler's conditional write fails, it reloads the run and decides again."""
    h = any_harness
    await h.register(spec("oob", task("a"), task("b", "a"), task("c", "b")))
    run_id = await h.trigger("oob")
    async with h.store.begin() as conn:
        b = await h.ti("oob", run_id, "b")
        await task_instances.set_task_state(conn, b.id, "skipped")
    await h.finish("a")
    assert await h.states("oob", run_id) == {"a": "success", "b": "skipped", "c": "skipped"}
    assert await h.run_state("oob", run_id) == "success"


async def test_a_user_change_between_two_reports_is_seen(harness):
    """The operations clear the run's token: the next batch reloads the run."""
    h = harness
    await h.register(spec("tok", task("a"), task("b")))
    run_id = await h.trigger("tok")
    run = await h.run("tok", run_id)
    stamped = run.last_scheduling_decision
    assert stamped is not None
    async with h.store.begin() as conn:
        await runs.mark_changed(conn, run.id)
        a = await h.ti("tok", run_id, "a")
        await task_instances.set_task_state(conn, a.id, "failed")
    await h.finish("b")
    assert await h.states("tok", run_id) == {"a": "failed", "b": "success"}
    assert await h.run_state("tok", run_id) == "failed"


async def test_a_failed_batch_keeps_its_reports_and_retries_them(harness, monkeypatch):
    h = harness
    await h.register(spec("flaky", task("a"), task("b", "a")))
    run_id = await h.trigger("flaky")
    real = task_instances.record_try_of
    calls = {"n": 0}

    async def broken_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the database went away for a moment")
        return await real(*args, **kwargs)

    monkeypatch.setattr(task_instances, "record_try_of", broken_once)
    await h.finish("a")
    # Rolled back: a is still queued, nothing launched, no slot leaked.
    assert await h.states("flaky", run_id) == {"a": "queued", "b": None}
    await h.advance(1)  # the retry timer
    assert await h.states("flaky", run_id) == {"a": "success", "b": "queued"}
    await h.finish("b")
    assert await h.run_state("flaky", run_id) == "success"
    assert h.scheduler.slots.occupied == {}


async def test_an_item_that_keeps_failing_is_dropped_and_the_loop_goes_on(harness, monkeypatch,
                                                                          caplog):
    h = harness
    await h.register(spec("poison", task("a")))
    await h.register(spec("fine", task("a")))
    poison = await h.trigger("poison")

    real = task_instances.record_try_of

    async def broken_for_poison(conn, ti, **kwargs):
        if ti.dag_id == "poison":
            raise RuntimeError("always")
        return await real(conn, ti, **kwargs)

    monkeypatch.setattr(task_instances, "record_try_of", broken_for_poison)
    await h.finish("a", run_id=poison)
    for _ in range(3):
        await h.advance(1)
    assert "dropping 1 scheduler item(s) after 3 failed attempts" in caplog.text
    fine = await h.trigger("fine")
    await h.finish("a", run_id=fine)
    assert await h.run_state("fine", fine) == "success"


@pytest.mark.parametrize("listener_fails", [False, True])
async def test_listeners_hear_of_changes_after_the_commit(migrated_sqlite_url, clock, executor,
                                                          listener_fails):
    from leoflow.engine.scheduler.loop import Scheduler
    from leoflow.engine.services import Operations, assets
    from leoflow.engine.store import Store
    from tests.integration.scheduler.conftest import Harness

    heard: list[tuple[str, str | None]] = []

    def listener(kind, data):
        heard.append((kind, data.get("task_id") or data.get("state")))
        if listener_fails:
            raise RuntimeError("a listener's bug must not stop the scheduler")

    store = await Store.open(migrated_sqlite_url, auto_migrate=True)
    scheduler = Scheduler(store, {"scripted": executor}, assets=assets, clock=clock,
                          listeners=[listener])
    await scheduler.start()
    h = Harness(store, clock, executor, scheduler, Operations(store, scheduler, clock=clock))
    try:
        await h.register(spec("heard", task("a")))
        run_id = await h.trigger("heard")
        await h.finish("a")
        assert await h.run_state("heard", run_id) == "success"
        assert heard == [("run.running", None), ("ti.queued", "a"), ("ti.running", "a"),
                         ("ti.finished", "a"), ("run.finished", "success")]
    finally:
        await scheduler.stop()
        await store.close()


class _SlowCanceller:
    """The operations' view of the scheduler, with a batch slipped in between an
    operation's commit and its ``cancel_task`` (as a busy scheduler may do)."""

    def __init__(self, h, before_cancel) -> None:
        self.h = h
        self.before_cancel = before_cancel

    def wake_run(self, dag_run_id: int) -> None:
        self.h.scheduler.wake_run(dag_run_id)

    def wake_dag(self, dag_id: str) -> None:
        self.h.scheduler.wake_dag(dag_id)

    async def cancel_task(self, ti_id, executor, reason, try_number=None) -> None:
        await self.before_cancel()
        await self.h.scheduler.cancel_task(ti_id, executor, reason, try_number=try_number)


async def test_a_late_cancel_from_an_operation_spares_the_next_try(harness):
    h = harness
    await h.register(spec("race", task("a"), task("b")))
    run_id = await h.trigger("race")
    await h.running("a")
    old = h.executor.latest("a")

    async def sibling_finishes() -> None:
        # b's report makes the loop reload the run (the token changed): it sees a cleared,
        # stops the old try and launches the next one, before the operation cancels.
        await h.finish("b")

    from leoflow.engine.services import Operations

    ops = Operations(h.store, _SlowCanceller(h, sibling_finishes), clock=h.clock)
    await ops.clear_task_instances("race", run_id, ["a"])
    await h.settle()
    new = h.executor.latest("a")
    assert (old.try_number, new.try_number) == (1, 2)
    # The old try was stopped once, by the loop; the operation's cancel left try 2 alone.
    assert h.executor.cancelled == [(old.ti_id,
                                     "changed by a user (cleared, marked or deleted)")]
    assert (await h.ti("race", run_id, "a")).state == "queued"
    await h.finish("a")
    assert await h.run_state("race", run_id) == "success"


async def test_finished_runs_are_not_kept_in_memory(harness):
    h = harness
    await h.register(spec("mem", task("a")))
    run_id = await h.trigger("mem")
    launch = h.executor.latest("a")
    await h.finish("a")
    assert h.scheduler.views.by_run == {}
    await h.finish("a")  # a late duplicate report reads the run again...
    assert h.scheduler.views.by_run == {} and h.scheduler.views.ti_runs == {}  # ...and forgets it
    assert (await h.ti("mem", run_id, "a")).try_number == launch.try_number
