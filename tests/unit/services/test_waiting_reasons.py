"""Why a task instance is not running: one sentence per case the scheduler knows, never
"waiting: waiting: ..." (the scheduler's recorded reasons carry their own "waiting:")."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from leoflow.engine.services.waiting_reasons import not_started_reason
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RUN = DagRunRow(id=1, dag_id="d", run_id="r", run_type="manual", logical_date=None,
                run_after=NOW, data_interval_start=None, data_interval_end=None,
                state="running", conf=None, dag_version_id="v", triggered_by="ui",
                triggering_user_name=None, note=None, queued_at=NOW, start_date=NOW,
                end_date=None, last_scheduling_decision=None)
TI = TaskInstanceRow(id="t", dag_run_id=1, dag_id="d", run_id="r", task_id="load",
                     map_index=-1, rendered_map_index=None, state=None, try_number=0,
                     max_tries=0, operator="PythonOperator", pool="default_pool",
                     pool_slots=1, priority_weight=1, scheduled_at=None, queued_at=None,
                     start_date=None, end_date=None, duration=None, next_retry_at=None,
                     last_heartbeat_at=None, executor=None, external_executor_id=None,
                     hostname=None, pid=None, waiting_reason=None, note=None)
LOAD = TaskSpec.from_json({"task_id": "load", "operator": "PythonOperator",
                           "upstream": ["extract", "clean"]})


def reason(ti: TaskInstanceRow = TI, run: DagRunRow = RUN, *,
           upstream: dict[str, str | None] | None = None, paused: bool = False,
           waiting: str | None = None) -> str:
    text = not_started_reason(ti, run, LOAD, upstream or {}, dag_paused=paused,
                              max_active_runs=16, waiting=waiting, now=NOW)
    return text or ""


def test_upstream_tasks_are_named_with_their_states() -> None:
    text = reason(upstream={"extract": "running", "clean": None})
    assert text == "upstream tasks extract (running), clean (no status) to finish"
    assert reason(upstream={"extract": "success", "clean": "queued"}) == (
        "upstream task clean (queued) to finish")


@pytest.mark.parametrize("stored", [
    "waiting: max_active_tasks (1) of DAG 'd' are queued or running",
    "max_active_tasks (1) of DAG 'd' are queued or running"])
def test_the_schedulers_reason_is_said_once(stored: str) -> None:
    text = reason(replace(TI, state="scheduled", waiting_reason=stored))
    assert text == "max_active_tasks (1) of DAG 'd' are queued or running"
    assert "waiting" not in text.lower()


def test_pool_and_parallelism_reasons_pass_through() -> None:
    pool = "waiting: pool 'gpu' has 0 free slot(s) of 2, the task needs 1"
    assert reason(replace(TI, state="scheduled", waiting_reason=pool)) == pool[9:]
    slots = ("waiting for a free slot: parallelism (32) task instances are queued or "
             "running")
    assert reason(replace(TI, state="scheduled", waiting_reason=slots)) == slots


def test_a_retry_says_until_when() -> None:
    ti = replace(TI, state="up_for_retry", try_number=1,
                 next_retry_at=NOW + timedelta(seconds=30))
    assert reason(ti) == "retry delay: try 2 starts at 03:04:35 (in 30 s)"


def test_deferred_and_rescheduled_say_what_for() -> None:
    what = "a file matching /in/*.csv, until 2026-01-02T04:00:00+00:00"
    assert reason(replace(TI, state="deferred"), waiting=what) == (
        f"deferred: waiting for {what}")
    assert reason(replace(TI, state="up_for_reschedule"), waiting=what).startswith(
        "between pokes")


def test_the_run_holds_it() -> None:
    queued = replace(RUN, state="queued", start_date=None)
    assert "DAG is paused" in reason(run=queued, paused=True)
    assert "max_active_runs (16)" in reason(run=queued)


def test_queued_running_and_finished() -> None:
    assert reason(replace(TI, state="queued", try_number=1)).startswith("queued:")
    for state in ("running", "success", "failed", "skipped", "upstream_failed"):
        assert reason(replace(TI, state=state)) == ""
