"""Dynamic task mapping through the real path (compile, scheduler, agents, user processes):
mapped task groups, ``.partial().expand()`` / ``.expand_kwargs()`` on a user's operator,
second-order mapping, and ``XComArg.map/zip/concat`` with map functions run by the task.

The DAGs are in ``projects/mapping_more/dag.py``, written with Airflow's imports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "mapping_more"


@pytest.fixture
async def mapping(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


async def test_mapped_task_group_instances_follow_their_own_upstream_instance(
        mapping: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(mapping, dag_id="mapping_groups")
    states = result.states()
    # add[1] fails (num == 2): only scale[1] is upstream_failed, as in Airflow
    assert {k: v for k, v in states.items() if k.startswith("pipeline.")} == {
        "pipeline.add[0]": "success", "pipeline.add[1]": "failed",
        "pipeline.add[2]": "success",
        "pipeline.scale[0]": "success", "pipeline.scale[1]": "upstream_failed",
        "pipeline.scale[2]": "success",
        "pipeline.note[0]": "success", "pipeline.note[1]": "success",
        "pipeline.note[2]": "success"}
    assert "two is refused" in (result.tasks["pipeline.add[1]"].error or "")
    assert [result.xcom[f"pipeline.add[{i}]"] for i in (0, 2)] == [2, 4]
    assert [result.xcom[f"pipeline.scale[{i}]"] for i in (0, 2)] == [20, 40]
    assert [result.xcom[f"pipeline.note[{i}]"] for i in range(3)] == [
        "saw 1", "saw 2", "saw 3"]
    assert result.xcom["total"] == 60  # the collected results of the group's last task
    assert [result.xcom[f"pair.join[{i}]"] for i in range(2)] == ["x-1", "y-2"]
    assert result.state == "success"  # the failed branch ends in a successful leaf


async def test_user_operators_map_and_second_order_mapping(
        mapping: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(mapping, dag_id="mapping_operators")
    assert result.state == "success", result.states()
    assert [result.xcom[f"mul[{i}]"] for i in range(3)] == [3, 6, 9]
    assert [result.xcom[f"mul_kw[{i}]"] for i in range(2)] == [10, 7]
    assert result.xcom["total"] == 18
    assert [result.xcom[f"again[{i}]"] for i in range(2)] == [20, 14]
    assert "product 9" in result.lines("mul[2]")


async def test_map_zip_concat_resolve_lazily_and_map_functions_run_in_the_task(
        mapping: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(mapping, dag_id="mapping_transforms")
    assert result.state == "success", result.states()

    def values(task_id: str, n: int) -> list[object]:
        return [result.xcom.get(f"{task_id}[{i}]") for i in range(n)]

    assert values("mapped", 3) == ["A", "B", "C"]
    assert [result.tasks[f"chained[{i}]"].state for i in range(3)] == [
        "success", "skipped", "success"]  # the map function raised AirflowSkipException
    assert values("chained", 3) == ["A", None, "C"]
    assert values("zipped", 2) == [["A", 1], ["B", 2]]
    assert "zipped[2]" not in result.tasks
    assert values("longest", 3) == [["a", 1], ["b", 2], ["c", 0]]
    assert values("joined", 5) == [1, 2, "a", "b", "c"]
    assert result.xcom["collect"] == ["A", "B", "C"]
