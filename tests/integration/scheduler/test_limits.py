"""Limits: parallelism, max_active_tasks, max_active_runs, pools; a held task says why."""

from __future__ import annotations

import pytest

from leoflow.engine.store import pools
from tests.integration.scheduler.conftest import make_harness, spec, task


@pytest.fixture
async def narrow(migrated_sqlite_url, clock, executor):
    """A scheduler with parallelism 2."""
    h = await make_harness(migrated_sqlite_url, clock, executor, parallelism=2)
    yield h
    await h.scheduler.stop()
    await h.store.close()


async def test_parallelism_caps_tasks_across_dags_and_records_why(narrow):
    h = narrow
    await h.register(spec("p1", task("a"), task("b")))
    await h.register(spec("p2", task("c")))
    run1 = await h.trigger("p1")
    run2 = await h.trigger("p2")
    assert h.executor.started_ids() == ["a", "b"]
    held = await h.ti("p2", run2, "c")
    assert held.state == "scheduled"
    assert "parallelism (2)" in held.waiting_reason
    await h.finish("a")
    assert h.executor.started_ids() == ["a", "b", "c"]
    started = await h.ti("p2", run2, "c")
    assert (started.state, started.waiting_reason) == ("queued", None)
    await h.finish("b")
    await h.finish("c")
    assert await h.run_state("p1", run1) == await h.run_state("p2", run2) == "success"


async def test_max_active_tasks_per_dag(harness):
    h = harness
    await h.register(spec("mat", task("a"), task("b"), task("c"), max_active_tasks=1))
    run_id = await h.trigger("mat")
    assert h.executor.started_ids() == ["a"]
    for name in ("b", "c"):
        ti = await h.ti("mat", run_id, name)
        assert ti.state == "scheduled"
        assert "max_active_tasks (1)" in ti.waiting_reason
    await h.finish("a")
    assert h.executor.started_ids() == ["a", "b"]
    await h.finish("b")
    await h.finish("c")
    assert await h.run_state("mat", run_id) == "success"


async def test_priority_weight_decides_who_goes_first(harness):
    h = harness
    await h.register(spec("prio", task("low"), task("high", priority_weight=10),
                          max_active_tasks=1))
    await h.trigger("prio")
    assert h.executor.started_ids() == ["high"]


async def test_max_active_runs_keeps_a_second_run_queued_until_the_first_ends(any_harness):
    h = any_harness
    await h.register(spec("mar", task("a"), max_active_runs=1))
    first = await h.trigger("mar")
    h.clock.advance(1)  # a different run_after, hence a different run_id
    second = await h.trigger("mar")
    assert await h.run_state("mar", first) == "running"
    assert await h.run_state("mar", second) == "queued"
    assert len(h.executor.started) == 1
    await h.finish("a")
    assert await h.run_state("mar", first) == "success"
    assert await h.run_state("mar", second) == "running"
    assert len(h.executor.started) == 2
    assert h.executor.started[-1].run_id == second
    await h.finish("a")
    assert await h.run_state("mar", second) == "success"


async def test_a_run_marked_failed_frees_its_run_slot(harness):
    h = harness
    await h.register(spec("mar_mark", task("a"), max_active_runs=1))
    first = await h.trigger("mar_mark")
    h.clock.advance(1)
    second = await h.trigger("mar_mark")
    await h.ops.mark_run("mar_mark", first, "failed")
    await h.settle()
    assert await h.run_state("mar_mark", second) == "running"


async def test_pool_slots_limit_tasks_and_record_why(any_harness):
    h = any_harness
    async with h.store.begin() as conn:
        await pools.upsert_pool(conn, "gpu", 2)
    await h.register(spec("pooled", task("a", pool="gpu"), task("b", pool="gpu"),
                          task("big", pool="gpu", pool_slots=2), task("free")))
    run_id = await h.trigger("pooled")
    assert sorted(h.executor.started_ids()) == ["a", "b", "free"]
    big = await h.ti("pooled", run_id, "big")
    assert big.state == "scheduled"
    assert big.waiting_reason == ("waiting: pool 'gpu' has 0 free slot(s) of 2, "
                                  "the task needs 2")
    await h.finish("a")
    big = await h.ti("pooled", run_id, "big")
    assert "has 1 free slot(s) of 2" in big.waiting_reason
    await h.finish("b")
    assert h.executor.started_ids()[-1] == "big"
    for name in ("big", "free"):
        await h.finish(name)
    assert await h.run_state("pooled", run_id) == "success"


async def test_a_task_in_a_missing_pool_waits_and_says_so(harness):
    h = harness
    await h.register(spec("nopool", task("a", pool="nowhere")))
    run_id = await h.trigger("nopool")
    ti = await h.ti("nopool", run_id, "a")
    assert ti.state == "scheduled"
    assert ti.waiting_reason == ("waiting: pool 'nowhere' does not exist (create it, or "
                                 "change the task)")
    async with h.store.begin() as conn:
        await pools.upsert_pool(conn, "nowhere", 1)
    h.scheduler.refresh_pools()
    await h.settle()
    assert (await h.ti("nopool", run_id, "a")).state == "queued"
