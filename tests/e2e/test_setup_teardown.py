"""Setup and teardown tasks through the real path: compile (Airflow imports), control plane,
scheduler, agents and user processes. The DAGs are in ``projects/setup_teardown/dag.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Harness, Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "setup_teardown"


@pytest.fixture
async def project(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


async def run(harness: Harness, prepared: Prepared, dag_id: str):
    result = await harness.run(prepared, dag_id=dag_id, timeout=60)
    return result


async def test_teardown_runs_when_the_work_failed_and_the_run_fails(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await run(harness, project, "st_work_fails")
    assert result.states() == {"create_cluster": "success", "broken_work": "failed",
                               "delete_cluster": "success"}
    assert result.state == "failed"  # because of the work, not of the teardown
    assert result.xcom["delete_cluster"] == "deleted cluster-7"  # got the setup's result
    assert any("deleting cluster-7" in line for line in result.lines("delete_cluster"))
    assert "the work on cluster-7 broke" in (result.tasks["broken_work"].error or "")


async def test_a_failed_setup_runs_nothing_in_its_scope(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await run(harness, project, "st_setup_fails")
    assert result.states() == {"create": "failed", "work": "upstream_failed",
                               "delete": "upstream_failed"}
    assert result.state == "failed"
    assert result.tasks["delete"].try_number == 0  # never started


async def test_a_failed_teardown_does_not_fail_the_run(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await run(harness, project, "st_teardown_fails")
    assert result.states() == {"create": "success", "work": "success", "delete": "failed"}
    assert result.state == "success"


async def test_a_failed_teardown_with_on_failure_fail_dagrun_fails_the_run(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await run(harness, project, "st_teardown_fails_run")
    assert result.states() == {"create": "success", "work": "success", "delete": "failed"}
    assert result.state == "failed"


async def test_clearing_the_work_reruns_its_setup_and_teardown(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        first = await run(harness, project, "st_clear")
        assert first.state == "success"
        since = len(harness.events)
        cleared = await harness.plane.operations.clear_task_instances(
            "st_clear", first.run_id, ["work"])
        assert sorted(ti.task_id for ti in cleared) == [
            "create_cluster", "delete_cluster", "work"]
        await harness.wait_event(
            lambda kind, d: kind == "run.finished" and d.get("run_id") == first.run_id,
            60, since=since)
        second = await harness.result(first.run)
    assert second.state == "success"
    tries = {name: t.try_number for name, t in second.tasks.items()}
    assert tries == {"create_cluster": 2, "work": 2, "delete_cluster": 2, "unrelated": 1}
    assert second.xcom["work"] == "worked on cluster-7"
    assert any("deleting cluster-7" in line for line in second.lines("delete_cluster", 2))
