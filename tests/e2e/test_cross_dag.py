"""Cross-DAG operators through the real path: compile, control plane, scheduler, trigger
runner, agents and user processes.

``TriggerDagRunOperator`` renders its fields in its process and hands the control plane a
request; the control plane creates the run (tenant-checked, once), and waits on it when
asked. ``ExternalTaskMarker`` clears its child DAG's task when it is cleared. The DAGs are
in ``projects/cross_dag/dag.py``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leoflow.engine.services import InvalidOperation
from leoflow.engine.store import runs
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.rows import DagRunRow
from tests.e2e.harness import Harness, Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "cross_dag"
LOGICAL = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def cross(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


async def runs_of(harness: Harness, dag_id: str) -> list[DagRunRow]:
    async with harness.plane.store.connect() as conn:
        return list((await runs.list_runs(conn, dag_id=dag_id, limit=None)).items)


async def register(harness: Harness, prepared: Prepared, *dag_ids: str) -> None:
    for dag_id in dag_ids:
        await harness.register(prepared, dag_id)


async def test_controller_triggers_target_with_rendered_conf(
        cross: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        await register(harness, cross, "xd_target", "xd_controller")
        run = await harness.trigger("xd_controller", conf={"greeting": "Hi"})
        assert await harness.wait(run, 60) == "success"
        controller = await harness.result(run)
        [target_run] = await runs_of(harness, "xd_target")
        assert await harness.wait(target_run, 60) == "success"
        target = await harness.result(target_run)
    assert controller.states() == {"trigger": "success"}
    assert controller.keys[("trigger", "trigger_run_id")] == target_run.run_id
    assert target_run.run_id.startswith("manual__")
    # manual: both API clients (3.0.2, 3.3.2) know it; triggered_by says who did it
    assert (target_run.run_type, target_run.triggered_by) == ("manual", "operator")
    assert target_run.conf == {"message": "Hi World"}
    assert target_run.logical_date is not None  # Airflow 3: "now" when not given
    assert target.states() == {"run_this": "success", "bash_task": "success"}
    assert target.xcom["run_this"] == "Hi World"
    assert "Here is the message: Hi World" in target.lines("bash_task")
    assert "Remotely received value of Hi World for key=message" in target.lines("run_this")


async def test_parent_waits_for_a_paused_child_across_a_restart_then_finishes(
        cross: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    """Airflow's example_external_task: the child DAG is paused, so the parent waits (the
    trigger for the child run to end, the sensor for the child's task); unpausing the child
    is the awaited event. A control-plane restart in between creates no second run."""
    async with open_plane(e2e_home, sqlite_url) as harness:
        await register(harness, cross, "xd_child", "xd_parent")
        await harness.plane.operations.set_paused("xd_child", True)
        run = await harness.trigger("xd_parent", logical_date=LOGICAL)
        for task_id in ("parent_task_sensor", "trigger_child_task"):
            await harness.wait_event(
                lambda k, d, t=task_id: k == "ti.deferred" and d.get("task_id") == t, 30)
        await harness.wait_event(lambda k, d: k == "ti.deferred" and d.get("kind") == "dag_run"
                                 and d.get("run_id") == run.run_id, 30)
        deadline = time.monotonic() + 30
        while True:  # the request is carried out by the trigger's first poll
            async with harness.plane.store.connect() as conn:
                waiting = [t for t in await trigger_rows.list_triggers(conn)
                           if t.classpath == "dag_run"]
            if waiting and "started" in waiting[0].kwargs:
                break
            assert time.monotonic() < deadline, "the dag_run trigger never started its run"
            await asyncio.sleep(0.05)
        [child] = await runs_of(harness, "xd_child")
        # asking again (a restart between creating the run and firing) changes nothing
        again = await harness.plane.scheduler.triggers.dag_runs.start(
            waiting[0].id, "xd_parent", waiting[0].kwargs)
        assert again["run_id"] == child.run_id
        middle = await harness.result(run)
        assert child.state == "queued" and child.logical_date == LOGICAL
        assert middle.states() == {"start": "success", "parent_task_sensor": "deferred",
                                   "trigger_child_task": "deferred", "end": None}
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.plane.operations.set_paused("xd_child", False)
        assert await harness.wait(run, 60) == "success"
        final = await harness.result(run)
        child_runs = await runs_of(harness, "xd_child")
    assert final.states() == dict.fromkeys(
        ["start", "parent_task_sensor", "trigger_child_task", "end"], "success")
    assert [r.run_id for r in child_runs] == [child.run_id]
    assert child_runs[0].state == "success"
    assert final.keys[("trigger_child_task", "trigger_run_id")] == child.run_id


async def test_waiting_for_a_failed_run_fails_the_task(
        cross: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        await register(harness, cross, "xd_failing", "xd_wait_failed")
        run = await harness.trigger("xd_wait_failed")
        assert await harness.wait(run, 60) == "failed"
        result = await harness.result(run)
        [failing] = await runs_of(harness, "xd_failing")
    assert failing.state == "failed"
    assert result.states() == {"wait_deferred": "failed"}
    assert "xd_failing failed with failed state failed" in (result.tasks["wait_deferred"].error
                                                           or "")


async def test_existing_run_skips_or_fails_and_resets(
        cross: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        await register(harness, cross, "xd_child", "xd_fixed_id")
        run = await harness.trigger("xd_fixed_id")
        assert await harness.wait(run, 60) == "failed"
        result = await harness.result(run)
        child_runs = await runs_of(harness, "xd_child")
    assert result.states() == {"first": "success", "again_skips": "skipped",
                               "again_fails": "failed"}
    assert [r.run_id for r in child_runs] == [f"fixed__{run.run_id}"]
    assert "DagRunAlreadyExists" in (result.tasks["again_fails"].error or "")


async def test_a_dag_of_another_tenant_is_not_found(
        cross: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.plane.operations.register_dag(
            cross.document("xd_foreign"), source_code=cross.compiled.source,
            fileloc=str(cross.compiled.dag_file), paused_on_create=False, tenant="other")
        await register(harness, cross, "xd_elsewhere")
        run = await harness.trigger("xd_elsewhere")
        assert await harness.wait(run, 60) == "failed"
        result = await harness.result(run)
        assert await runs_of(harness, "xd_foreign") == []
    assert "Dag id xd_foreign not found" in (result.tasks["other_tenant"].error or "")


async def test_clearing_a_marker_clears_the_child_recursively(
        cross: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    dags = ("xd_marker_parent", "xd_marker_child", "xd_marker_grandchild")
    async with open_plane(e2e_home, sqlite_url) as harness:
        await register(harness, cross, *dags, "xd_marker_shallow")
        first = {d: await harness.trigger(d, logical_date=LOGICAL) for d in dags}
        for started in first.values():
            assert await harness.wait(started, 60) == "success"
        ops = harness.plane.operations
        parent = first["xd_marker_parent"]
        would = await ops.clear_task_instances("xd_marker_parent", parent.run_id,
                                               ["parent_task"], dry_run=True)
        assert sorted((t.dag_id, t.task_id) for t in would) == [
            ("xd_marker_child", "child_marker"), ("xd_marker_child", "child_task1"),
            ("xd_marker_grandchild", "grandchild_task"), ("xd_marker_parent", "parent_task")]
        # recursion_depth=1 cannot reach the grandchild: the whole clear is refused
        shallow = await harness.trigger("xd_marker_shallow", logical_date=LOGICAL)
        assert await harness.wait(shallow, 60) == "success"
        with pytest.raises(InvalidOperation, match="Maximum recursion depth"):
            await ops.clear_task_instances("xd_marker_shallow", shallow.run_id, ["shallow"])
        assert (await harness.result(first["xd_marker_child"])).tasks["child_task1"] \
            .try_number == 1
        mark = len(harness.events)
        cleared = await ops.clear_task_instances("xd_marker_parent", parent.run_id,
                                                 ["parent_task"])
        assert len(cleared) == 4
        for dag_id, started in first.items():
            await harness.wait_event(
                lambda k, d, r=started.run_id, g=dag_id: k == "run.finished"
                and d.get("run_id") == r and d.get("dag_id") == g, 60, since=mark)
        child = await harness.result(first["xd_marker_child"])
        grandchild = await harness.result(first["xd_marker_grandchild"])
    assert child.state == grandchild.state == "success"
    assert child.tasks["child_task1"].try_number == 2
    assert grandchild.tasks["grandchild_task"].try_number == 2


async def test_sensor_waits_for_a_task_group_of_another_dag(
        cross: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        await register(harness, cross, "xd_group_parent", "xd_group_waiter")
        waiter = await harness.trigger("xd_group_waiter", logical_date=LOGICAL)
        await harness.wait_event(lambda k, d: k == "ti.deferred"
                                 and d.get("run_id") == waiter.run_id, 30)
        await asyncio.sleep(1.0)  # a few polls find no run of the group's DAG
        # mode="reschedule": shown up_for_reschedule while it waits, as on Airflow
        assert (await harness.result(waiter)).states() == {"wait_group": "up_for_reschedule"}
        parent = await harness.trigger("xd_group_parent", logical_date=LOGICAL)
        assert await harness.wait(parent, 60) == "success"
        assert await harness.wait(waiter, 60) == "success"
        result = await harness.result(waiter)
    lines = [r.event for records in result.logs["wait_group"].values() for r in records]
    assert any("task group grp of DAG xd_group_parent" in line for line in lines)
