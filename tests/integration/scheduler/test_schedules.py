"""Scheduled runs: catchup, @once, timedelta, cron ticks on a timer, pause and unpause.

The clock starts at 2026-03-01 12:00 UTC (``START``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.scheduler.conftest import START, spec, task

DAILY = {"kind": "cron", "expression": "@daily"}
HOURLY = {"kind": "cron", "expression": "@hourly"}


def day(d: int, month: int = 3) -> datetime:
    return datetime(2026, month, d, tzinfo=UTC)


async def logical_dates(h, dag_id: str) -> list[datetime]:
    return [r.logical_date for r in await h.runs(dag_id)]


async def test_catchup_creates_every_missed_run_in_order(any_harness):
    h = any_harness
    await h.register(spec("cu", task("a"), schedule=DAILY, start_date="2026-02-25T00:00:00Z",
                          catchup=True))
    made = await h.runs("cu")
    assert [r.logical_date for r in made] == [day(25, 2), day(26, 2), day(27, 2), day(28, 2),
                                              day(1)]
    first = made[0]
    # Airflow 3's trigger timetable: logical_date = run_after = tick, empty interval.
    assert first.run_id == "scheduled__2026-02-25T00:00:00+00:00"
    assert (first.run_type, first.run_after) == ("scheduled", day(25, 2))
    assert first.data_interval_start == first.data_interval_end == day(25, 2)
    assert len(h.executor.started) == 5  # all five runs start: max_active_runs is 16


async def test_catchup_is_bounded_by_max_active_runs(harness):
    h = harness
    await h.register(spec("cu2", task("a"), schedule=DAILY, start_date="2026-02-25T00:00:00Z",
                          catchup=True, max_active_runs=2))
    assert await logical_dates(h, "cu2") == [day(25, 2), day(26, 2)]
    await h.finish("a", run_id="scheduled__2026-02-26T00:00:00+00:00")
    assert await logical_dates(h, "cu2") == [day(25, 2), day(26, 2), day(27, 2)]
    for run in await h.runs("cu2"):
        if run.state == "running":
            await h.finish("a", run_id=run.run_id)
    for run in await h.runs("cu2"):
        if run.state == "running":
            await h.finish("a", run_id=run.run_id)
    assert await logical_dates(h, "cu2") == [day(25, 2), day(26, 2), day(27, 2), day(28, 2),
                                             day(1)]
    assert {r.state for r in await h.runs("cu2")} == {"success"}


async def test_without_catchup_only_the_latest_run_is_created(harness):
    h = harness
    await h.register(spec("nocu", task("a"), schedule=DAILY, start_date="2026-02-25T00:00:00Z"))
    (run,) = await h.runs("nocu")
    assert run.logical_date == day(1)
    assert run.run_id == "scheduled__2026-03-01T00:00:00+00:00"


async def test_once_runs_once_at_its_start_date(harness):
    h = harness
    await h.register(spec("once", task("a"), schedule={"kind": "once"},
                          start_date="2026-02-27T06:00:00Z"))
    (run,) = await h.runs("once")
    assert run.logical_date == datetime(2026, 2, 27, 6, tzinfo=UTC)
    await h.finish("a")
    await h.advance(7 * 24 * 3600)
    assert len(await h.runs("once")) == 1


async def test_timedelta_schedule_with_catchup(harness):
    h = harness
    start = START - timedelta(hours=3)
    await h.register(spec("every_hour", task("a"), schedule={"kind": "timedelta",
                                                             "seconds": 3600},
                          start_date=start.isoformat(), catchup=True))
    assert await logical_dates(h, "every_hour") == [start + timedelta(hours=n)
                                                    for n in range(4)]
    await h.advance(3600)
    assert (await logical_dates(h, "every_hour"))[-1] == START + timedelta(hours=1)


async def test_the_next_cron_tick_creates_its_run_at_once_on_a_timer(any_harness):
    h = any_harness
    await h.register(spec("tick", task("a"), schedule=HOURLY, start_date="2026-01-01"))
    assert await logical_dates(h, "tick") == [START]
    assert START + timedelta(hours=1) in h.clock.pending()
    async with h.store.connect() as conn:
        from leoflow.engine.store import dags

        dag = await dags.get_dag(conn, "tick")
    assert dag.next_dagrun_after == START + timedelta(hours=1)
    await h.advance(3599)
    assert len(await h.runs("tick")) == 1
    await h.advance(1)
    assert await logical_dates(h, "tick") == [START, START + timedelta(hours=1)]
    assert h.executor.started[-1].run_id == "scheduled__2026-03-01T13:00:00+00:00"


async def test_data_interval_timetable_runs_after_the_interval(harness):
    h = harness
    await h.register(spec("di", task("a"), schedule={"kind": "cron", "expression": "@daily",
                                                     "data_interval": True},
                          start_date="2026-02-20T00:00:00Z"))
    (run,) = await h.runs("di")
    # Without catchup: the last complete interval [02-28, 03-01), run after 03-01 00:00.
    assert (run.logical_date, run.data_interval_start, run.data_interval_end,
            run.run_after) == (day(28, 2), day(28, 2), day(1), day(1))


async def test_pausing_stops_new_runs_and_unpausing_resumes_without_catchup(harness):
    h = harness
    await h.register(spec("pz", task("a", operator="empty"), schedule=HOURLY,
                          start_date="2026-01-01"))
    await h.ops.set_paused("pz", True)
    await h.advance(3 * 3600)
    assert await logical_dates(h, "pz") == [START]
    await h.ops.set_paused("pz", False)
    await h.settle()
    # catchup=False: only the latest missed tick (15:00), not 13:00 and 14:00.
    assert await logical_dates(h, "pz") == [START, START + timedelta(hours=3)]


async def test_unpausing_with_catchup_creates_the_missed_runs(harness):
    h = harness
    await h.register(spec("pzc", task("a", operator="empty"), schedule=HOURLY,
                          start_date=START.isoformat(), catchup=True))
    await h.ops.set_paused("pzc", True)
    await h.advance(3 * 3600)
    await h.ops.set_paused("pzc", False)
    await h.settle()
    assert await logical_dates(h, "pzc") == [START + timedelta(hours=n) for n in range(4)]
    assert {r.state for r in await h.runs("pzc")} == {"success"}


async def test_a_dag_registered_paused_creates_no_run(harness):
    h = harness
    await h.register(spec("born_paused", task("a"), schedule=HOURLY, start_date="2026-01-01"),
                     paused=True)
    await h.advance(2 * 3600)
    assert await h.runs("born_paused") == []
    assert h.clock.pending() == []
