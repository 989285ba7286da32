"""Asset-triggered runs through the real path: compile, control plane, scheduler, agents and
user processes (``projects/asset_scheduling/dag.py``).

A producer's task succeeds in its own process; its report reaches the scheduler, whose batch
records the success, emits the asset event and creates the consumer run in one transaction,
and evaluates that run in the same batch (its task is handed to an agent at once). ``&``
waits for both assets, ``|`` fires on either, an alias resolves to the asset the task added
at run time, and a paused consumer gets nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from leoflow.engine.store import runs, task_instances
from leoflow.engine.store.rows import DagRunRow
from tests.e2e.harness import Harness, Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "asset_scheduling"
CONSUMERS = ("sched_on_a", "sched_on_a_and_b", "sched_on_a_or_b", "sched_on_alias",
             "sched_on_a_paused")


@pytest.fixture
async def prepared(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


async def asset_runs(harness: Harness, dag_id: str) -> list[DagRunRow]:
    async with harness.plane.store.connect() as conn:
        page = await runs.list_runs(conn, dag_id=dag_id, run_type="asset_triggered",
                                    limit=None, order="id")
    return list(page.items)


async def produce(harness: Harness, dag_id: str) -> DagRunRow:
    run = await harness.trigger(dag_id)
    assert await harness.wait(run, 60) == "success"
    return run


async def test_producers_start_their_consumers(prepared: Prepared, sqlite_url: str,
                                               e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        for dag_id in ("sched_produce_a", "sched_produce_b", "sched_produce_alias"):
            await harness.register(prepared, dag_id)
        for dag_id in CONSUMERS:  # registered with their asset schedules
            await harness.register(prepared, dag_id, one_off=False)
        await harness.plane.operations.set_paused("sched_on_a_paused", True)

        reported: dict[str, float] = {}
        scheduler = harness.plane.scheduler
        report = scheduler.report

        async def timed_report(event) -> None:  # type: ignore[no-untyped-def]
            if event.state == "success":
                reported[event.ti_id] = time.monotonic()
            await report(event)

        scheduler.report = timed_report  # the agent service looks it up on each call
        produced = await produce(harness, "sched_produce_a")

        # [a] and a | b start on a; a & b waits for b; the paused consumer gets nothing
        (on_a,) = await asset_runs(harness, "sched_on_a")
        (either,) = await asset_runs(harness, "sched_on_a_or_b")
        assert await asset_runs(harness, "sched_on_a_and_b") == []
        assert await asset_runs(harness, "sched_on_a_paused") == []
        assert (on_a.triggered_by, on_a.logical_date, on_a.conf) == ("asset", None, {})

        # the delay from the producer task's success to the consumer run's creation
        async with harness.plane.store.connect() as conn:
            (make_a,) = await task_instances.list_for_run(conn, produced.id)
        store_delay = (on_a.queued_at - make_a.end_date).total_seconds()
        committed, _, _ = await harness.wait_event(
            lambda k, d: k == "run.running" and d.get("run_id") == on_a.run_id, 5)
        wall_delay = committed - reported[make_a.id]
        print(f"\nasset event → consumer run: store timestamps {store_delay * 1000:.1f} ms "
              f"(end_date → queued_at), wall {wall_delay * 1000:.1f} ms (success report "
              f"reaching the scheduler → consumer run committed and running)")
        assert store_delay == 0.0  # one transaction: the same batch
        assert wall_delay < 5.0

        assert await harness.wait(on_a, 60) == "success"
        seen = (await harness.result(on_a)).xcom["seen_on_a"]
        assert seen == [["sched_a", [{"rows": 7}]]]
        assert await harness.wait(either, 60) == "success"

        await produce(harness, "sched_produce_b")
        (both,) = await asset_runs(harness, "sched_on_a_and_b")
        assert len(await asset_runs(harness, "sched_on_a_or_b")) == 2
        assert await harness.wait(both, 60) == "success"
        assert (await harness.result(both)).xcom["seen_on_both"] == [
            ["sched_a", [{"rows": 7}]], ["sched_b", [{}]]]

        await produce(harness, "sched_produce_alias")
        (on_alias,) = await asset_runs(harness, "sched_on_alias")
        assert await harness.wait(on_alias, 60) == "success"
        assert (await harness.result(on_alias)).xcom["seen_on_alias"] == {
            "asset": [{"through": "alias"}], "alias": ["s3://sched/dynamic.csv"]}
        assert await asset_runs(harness, "sched_on_a_paused") == []
