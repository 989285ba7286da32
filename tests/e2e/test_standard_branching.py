"""The standard provider's date, weekday and latest-only branching through the real path:
compile (Airflow imports through the shim), control plane, scheduler, agents and user
processes. The operators choose in the task's process; the scheduler skips the branches
not taken, as for ``BranchPythonOperator``.

The DAGs are in ``projects/standard_branching/dag.py``; their conditions are relative to the
wall clock so that each branch is known in advance (see the comments there). The latest-only
DAGs are registered with their schedule and ``catchup=True``: the scheduler itself creates
the past runs and the latest one.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, Prepared, Projects, RunResult, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "standard_branching"
LOGICAL = datetime(2024, 6, 1, tzinfo=UTC)  # a Saturday
# example_latest_only_with_trigger's states on Airflow 3.3.2 (a manual run: all success),
# and for a scheduled run that is not the latest (task1 skipped, task3 follows, all_done task4
# still runs)
LATEST = dict.fromkeys(["latest_only", "task1", "task2", "task3", "task4"], "success")
NOT_LATEST = {**LATEST, "task1": "skipped", "task3": "skipped"}


@pytest.fixture
async def prepared(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


async def test_branch_datetime_true_false_group_and_logical_date(
        prepared: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, dag_id="sb_datetime", logical_date=LOGICAL)
    assert result.state == "success"
    assert result.states() == {
        "in_window": "success", "inside": "success", "outside": "skipped",
        "by_time": "success", "daytime": "skipped",
        "night.lights_off": "success", "night.sleep": "success",
        "by_logical": "success", "in_2024": "success", "not_2024": "skipped"}
    # the chosen ids are the task's XCom, as in Airflow
    assert result.xcom["in_window"] == ["inside"]
    assert result.xcom["by_time"] == "night"
    assert result.xcom["by_logical"] == "in_2024"


async def test_branch_day_of_week_and_day_of_week_sensor(
        prepared: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, dag_id="sb_weekday", logical_date=LOGICAL,
                                   timeout=90)
    assert result.state == "success"
    states = result.states()
    # example_weekday_branch_operator's states on Airflow's baseline day (both false)
    assert {k: states[k] for k in ("make_choice", "branch_true", "branch_false",
                                   "make_weekend_choice", "branch_weekend",
                                   "branch_mid_week")} == {
        "make_choice": "success", "branch_true": "skipped", "branch_false": "success",
        "make_weekend_choice": "success", "branch_weekend": "skipped",
        "branch_mid_week": "success"}
    assert {k: states[k] for k in ("today_check", "is_today", "not_today", "saturday_check",
                                   "is_saturday", "not_saturday")} == {
        "today_check": "success", "is_today": "success", "not_today": "skipped",
        "saturday_check": "success", "is_saturday": "success", "not_saturday": "skipped"}
    # example_sensors' week_day_sensor_failing_on_timeout: skipped after 3 s (soft_fail)
    assert states["week_day_sensor_failing_on_timeout"] == "skipped"
    assert states["after_far"] == "skipped"
    assert states["week_day_sensor_today"] == "success"
    assert states["after_today"] == "success"
    far = result.lines("week_day_sensor_failing_on_timeout")
    # poke_interval=1, timeout=3: it poked for its whole timeout before giving up
    assert sum("Poking until weekday is in" in line for line in far) >= 3


async def test_latest_only_lets_a_manual_run_through(
        prepared: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    """The baseline's case: a manual run (here with an old logical date) is never skipped."""
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, dag_id="sb_latest_delta",
                                   logical_date=datetime(2021, 1, 1, tzinfo=UTC))
    assert result.state == "success"
    assert result.states() == LATEST
    assert any("Manually triggered DAG_Run" in line for line in result.lines("latest_only"))


def _ticks(start: datetime, step: timedelta, now: datetime) -> list[datetime]:
    out = []
    while start <= now:
        out.append(start)
        start += step
    return out


async def _scheduled_runs(harness: Harness, dag_id: str, count: int,
                          timeout: float = 120.0) -> list[RunResult]:
    """Wait until the scheduler's ``count`` runs of ``dag_id`` finished; oldest first."""
    from leoflow.engine.store import runs

    deadline = time.monotonic() + timeout
    while True:
        async with harness.plane.store.connect() as conn:
            page = await runs.list_runs(conn, dag_id=dag_id, limit=None, order="logical_date")
        rows = page.items
        if len(rows) >= count and all(r.state in ("success", "failed") for r in rows):
            return [await harness.result(r) for r in rows]
        assert time.monotonic() < deadline, [(r.run_id, r.state) for r in rows]
        await asyncio.sleep(0.3)


@pytest.mark.parametrize(("dag_id", "step"), [("sb_latest_delta", timedelta(hours=1)),
                                              ("sb_latest_cron", timedelta(hours=1))])
async def test_latest_only_skips_all_but_the_latest_scheduled_run(
        prepared: Prepared, sqlite_url: str, e2e_home: Path, dag_id: str,
        step: timedelta) -> None:
    now = datetime.now(UTC)
    if dag_id == "sb_latest_cron":  # the latest run must stay the latest while we look
        to_next_hour = 3600 - (now.minute * 60 + now.second)
        if to_next_hour < 90:
            await asyncio.sleep(to_next_hour + 2)
            now = datetime.now(UTC)
    start = datetime.fromisoformat(prepared.document(dag_id)["start_date"])
    ticks = _ticks(start, step, now)
    assert len(ticks) >= 3
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.register(prepared, dag_id, one_off=False)
        results = await _scheduled_runs(harness, dag_id, len(ticks))
    assert [r.run.logical_date for r in results] == ticks
    assert {r.run.run_type for r in results} == {"scheduled"}
    assert all(r.state == "success" for r in results)
    assert [r.states() for r in results] == [NOT_LATEST] * (len(ticks) - 1) + [LATEST]
    assert results[-1].xcom["latest_only"] == ["task1"]
    assert results[0].xcom["latest_only"] == []
    assert any("Not latest execution, skipping downstream." in line
               for line in results[0].lines("latest_only"))
    assert any("Latest, allowing execution to proceed." in line
               for line in results[-1].lines("latest_only"))
