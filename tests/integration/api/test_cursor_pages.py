"""Airflow 3.3's cursor pagination of the runs and task instances lists (the UI's Runs and
Task Instances pages): ``cursor=`` starts, ``next_cursor`` walks on until null,
``previous_cursor`` walks back; without a cursor both are null (offset pagination)."""

from __future__ import annotations

from typing import Any

import pytest

from leoflow.engine.spec.canonical import with_content_hash
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _walk(api: Api, path: str, items: str) -> tuple[list[list[str]], dict[str, Any]]:
    pages, answer = [], (await api.get(f"{path}&cursor=")).json()
    while True:
        pages.append([i.get("dag_run_id", "") + "/" + i.get("task_id", "") for i in answer[items]])
        if answer["next_cursor"] is None:
            return pages, answer
        assert len(pages) < 10
        answer = (await api.get(f"{path}&cursor={answer['next_cursor']}")).json()


async def test_runs_and_task_instances_page_by_cursor(api: Api) -> None:
    empty = {"operator": "empty", "trigger_rule": "all_success",
             "inputs": {"args": [], "kwargs": {}}}
    await api.plane.operations.register_dag(with_content_hash({
        "schema_version": 1, "dag_id": "cursored", "schedule": {"kind": "none"},
        "tasks": [{**empty, "task_id": "a", "upstream": []},
                  {**empty, "task_id": "b", "upstream": ["a"]}]}),
        source_code="# cursored\n", fileloc="/dags/cursored.py", paused_on_create=False)
    for _ in range(5):
        run = await api.plane.operations.trigger_run("cursored")
        await api.wait_run("cursored", run.run_id)
    runs = "/api/v2/dags/cursored/dagRuns?limit=2&order_by=id"
    pages, last = await _walk(api, runs, "dag_runs")
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len({r for p in pages for r in p}) == 5
    assert last["total_entries"] == 5
    back = (await api.get(f"{runs}&cursor={last['previous_cursor']}")).json()
    assert [r["dag_run_id"] + "/" for r in back["dag_runs"]] == pages[1]
    first = (await api.get(f"{runs}&cursor=")).json()
    assert first["previous_cursor"] is None
    plain = (await api.get(runs)).json()
    assert (plain["next_cursor"], plain["previous_cursor"]) == (None, None)
    assert (await api.get(f"{runs}&cursor=%25%25")).status_code == 400

    tis = "/api/v2/dags/cursored/dagRuns/~/taskInstances?limit=4"
    ti_pages, _ = await _walk(api, tis, "task_instances")
    assert [len(p) for p in ti_pages] == [4, 4, 2]
    assert len({t for p in ti_pages for t in p}) == 10
