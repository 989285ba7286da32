"""Retry policies and the task state store through the real path: compile, control plane,
scheduler, agents (gRPC) and user processes.

The DAGs are Airflow 3.3 files in ``projects/retry_and_state/dag.py``: each policy decision
(fail at once, retry after the policy's own delay, fall through to the task's retries, a
custom policy) and each task state store use (a value kept across tries, retention,
delete/clear, one scope per map index and per run, the size cap, an async task) is checked
on the states, tries, XComs and logs the run leaves.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from leoflow.engine.store import task_instances
from tests.e2e.harness import Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "retry_and_state"


@pytest.fixture
async def project(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


def tries_of(result, name: str) -> list[tuple[int, str | None]]:
    return [(number, state) for number, state, _ in result.tasks[name].tries]


async def test_policy_decisions_are_applied_by_the_scheduler(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        started = time.monotonic()
        result = await harness.run(project, dag_id="retry_policies", timeout=90)
    assert result.state == "failed"
    assert result.states() == {"fails_fast": "failed", "quick_retry": "success",
                               "no_rule_matches": "failed", "retry_without_tries": "failed",
                               "custom_policy": "failed"}
    # FAIL: one try although three retries remained, and the reason is kept with the try
    assert tries_of(result, "fails_fast") == [(1, "failed")]
    assert "PermissionError: 401 from the API" in result.tasks["fails_fast"].error
    assert "retry policy: bad credentials" in result.tasks["fails_fast"].error
    assert any("fail without retrying (bad credentials)" in line
               for line in result.lines("fails_fast"))
    # RETRY with the rule's 1 s instead of the task's hour
    assert tries_of(result, "quick_retry") == [(1, "up_for_retry"), (2, "success")]
    assert result.xcom["quick_retry"] == 2
    assert time.monotonic() - started < 80
    # DEFAULT: the task's own retries
    assert tries_of(result, "no_rule_matches") == [(1, "up_for_retry"), (2, "failed")]
    # RETRY never adds tries
    assert tries_of(result, "retry_without_tries") == [(1, "failed")]
    # a custom policy: retried once, then failed with four retries left
    assert tries_of(result, "custom_policy") == [(1, "up_for_retry"), (2, "failed")]
    assert "try 2 of 6: giving up" in result.tasks["custom_policy"].error


async def test_a_policy_delay_keeps_the_task_waiting_up_for_retry(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    """Airflow's example_retry_policy waits in up_for_retry: the policy's delay (not the
    task's 1 s) decides when the retry is due."""
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.register(project, "retry_policy_waits")
        run = await harness.trigger("retry_policy_waits")
        await harness.wait_event(
            lambda kind, d: kind == "ti.finished" and d.get("run_id") == run.run_id
            and d.get("state") == "up_for_retry", 60)
        async with harness.plane.store.connect() as conn:
            (ti,) = await task_instances.list_for_run(conn, run.id)
        result = await harness.result(run)
    assert result.state == "running"
    assert ti.state == "up_for_retry" and ti.try_number == 1
    assert ti.next_retry_at is not None and ti.end_date is not None
    wait = ti.next_retry_at - ti.end_date
    assert timedelta(minutes=59) < wait <= timedelta(hours=1, seconds=1)
    assert "retry policy: the service is down" in result.tasks["service_down"].error


async def test_task_state_is_kept_across_tries_and_scoped(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        first = await harness.run(project, dag_id="task_state_across_tries", timeout=90)
        # a second run of the same DAG starts from an empty store
        started = time.monotonic()
        second_run = await harness.trigger("task_state_across_tries")
        await harness.wait(second_run, 90)
        second = await harness.result(second_run, started)
    for result in (first, second):
        assert result.state == "success", result.tasks
        job = result.xcom["resumable_job"]
        assert tries_of(result, "resumable_job") == [(1, "up_for_retry"), (2, "success")]
        assert job == {"job": f"job-{result.run_id[-6:]}", "attempts": [1, 2],
                       "scratch": "expired", "after_delete": "deleted"}
        assert result.xcom["from_the_context"] == "cleared"
        # each map index has its own value; index 1's retry reads what its first try wrote
        assert result.xcom["per_map_index[0]"] == {"before": None, "n": 1, "try": 1}
        assert result.xcom["per_map_index[1]"] == {"before": 20, "n": 2, "try": 2}
        assert "above the 256 KB limit" in result.xcom["too_big"]
        assert result.xcom["async_with_sync_calls"] == "v"


async def test_async_api_fails_as_on_airflow_3_3(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    """Airflow 3.3.2's store has no aget/aset: example_task_state_store_async fails there,
    in every try, and so it does here, with the reason in the error."""
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(project, dag_id="task_state_async_api", timeout=60)
    assert result.state == "failed"
    assert tries_of(result, "uses_aget") == [(1, "up_for_retry"), (2, "failed")]
    error = result.tasks["uses_aget"].error
    assert "AttributeError: 'TaskStateStore' object has no attribute 'aget'" in error
    assert "task_state_store.get(...)" in error
