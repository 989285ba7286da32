"""Timetables: Airflow 3's trigger and data-interval semantics, catchup, timezones, run ids."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from leoflow.engine.scheduler.timetable import (
    DataInterval,
    InvalidSchedule,
    RunInfo,
    manual_data_interval,
    next_run,
    parse_date,
    random_suffix,
    run_id,
    runs_between,
)
from leoflow.engine.spec.model import Schedule

DAILY = Schedule(kind="cron", expression="@daily", cron="0 0 * * *")
DAILY_INTERVAL = Schedule(kind="cron", expression="@daily", cron="0 0 * * *", data_interval=True)
HOURLY_DELTA = Schedule(kind="timedelta", seconds=3600)
HOURLY_DELTA_INTERVAL = Schedule(kind="timedelta", seconds=3600, data_interval=True)
AMS = ZoneInfo("Europe/Amsterdam")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


START = utc(2026, 11, 1)
NOW = utc(2026, 11, 24, 1, 11)


def runs(schedule: Schedule, *, catchup: bool, start: datetime | None = START,
         last: datetime | None = None, now: datetime = NOW, end: datetime | None = None,
         limit: int = 1000) -> tuple[RunInfo, ...]:
    return runs_between(schedule, start_date=start, end_date=end, last_logical_date=last,
                        now=now, catchup=catchup, limit=limit)


# --- cron, trigger timetable (Airflow 3 default) ------------------------------------------


def test_daily_unpaused_after_midnight_runs_todays_tick() -> None:
    # Observed on Airflow 3.3: '@daily' unpaused at 01:11 -> scheduled__2026-11-24T00:00:00+00:00
    (r,) = runs(DAILY, catchup=False)
    assert r.logical_date == r.run_after == utc(2026, 11, 24)
    assert r.data_interval == DataInterval(utc(2026, 11, 24), utc(2026, 11, 24))
    assert run_id("scheduled", r.run_after) == "scheduled__2026-11-24T00:00:00+00:00"


def test_trigger_catchup_creates_every_missed_tick_in_order() -> None:
    got = runs(DAILY, catchup=True)
    assert len(got) == 24
    assert [r.logical_date for r in got] == [utc(2026, 11, d) for d in range(1, 25)]
    assert all(r.run_after == r.logical_date == r.data_interval_start == r.data_interval_end
               for r in got)


def test_trigger_continues_after_the_last_run() -> None:
    last = utc(2026, 11, 20)
    assert [r.logical_date.day for r in runs(DAILY, catchup=True, last=last)] == [21, 22, 23, 24]
    assert [r.logical_date.day for r in runs(DAILY, catchup=False, last=last)] == [24]
    assert runs(DAILY, catchup=True, last=utc(2026, 11, 24)) == ()
    upcoming = next_run(DAILY, start_date=START, end_date=None,
                        last_logical_date=utc(2026, 11, 24), now=NOW, catchup=False)
    assert upcoming is not None and upcoming.run_after == utc(2026, 11, 25)


def test_trigger_start_date_in_the_future() -> None:
    start = utc(2026, 12, 1, 12)
    assert runs(DAILY, catchup=False, start=start) == ()
    info = next_run(DAILY, start_date=start, end_date=None, last_logical_date=None, now=NOW,
                    catchup=False)
    assert info is not None and info.logical_date == utc(2026, 12, 2)


def test_trigger_without_start_date_runs_the_past_tick_only_when_close() -> None:
    # Airflow's run_immediately=False: the past tick if within max(10% of the period, 5 min).
    (r,) = runs(DAILY, catchup=False, start=None, now=utc(2026, 11, 24, 1, 11))
    assert r.logical_date == utc(2026, 11, 24)
    assert runs(DAILY, catchup=False, start=None, now=utc(2026, 11, 24, 5)) == ()


def test_end_date_stops_the_schedule() -> None:
    got = runs(DAILY, catchup=True, end=utc(2026, 11, 5, 12))
    assert [r.logical_date.day for r in got] == [1, 2, 3, 4, 5]
    assert runs(DAILY, catchup=False, end=utc(2026, 11, 5, 12)) == ()


def test_limit_bounds_catchup() -> None:
    got = runs(DAILY, catchup=True, limit=5)
    assert len(got) == 5
    more = runs(DAILY, catchup=True, last=got[-1].logical_date)
    assert more[0].logical_date == utc(2026, 11, 6) and len(more) == 19


# --- cron, data interval timetable (opt-in) ----------------------------------------------


def test_data_interval_latest_only_covers_yesterday() -> None:
    (r,) = runs(DAILY_INTERVAL, catchup=False)
    assert r.logical_date == utc(2026, 11, 23)
    assert r.run_after == utc(2026, 11, 24)
    assert r.data_interval == DataInterval(utc(2026, 11, 23), utc(2026, 11, 24))


def test_data_interval_catchup() -> None:
    got = runs(DAILY_INTERVAL, catchup=True)
    assert len(got) == 23
    assert got[0].data_interval == DataInterval(utc(2026, 11, 1), utc(2026, 11, 2))
    assert got[-1].logical_date == utc(2026, 11, 23)
    assert all(r.run_after == r.data_interval_end == r.logical_date + timedelta(days=1)
               for r in got)
    assert [r.logical_date.day for r in
            runs(DAILY_INTERVAL, catchup=True, last=utc(2026, 11, 20))] == [21, 22, 23]


def test_data_interval_on_a_boundary_runs_the_interval_that_just_ended() -> None:
    (r,) = runs(DAILY_INTERVAL, catchup=False, now=utc(2026, 11, 24))
    assert r.logical_date == utc(2026, 11, 23)


def test_data_interval_start_date_is_aligned_to_the_next_tick() -> None:
    got = runs(DAILY_INTERVAL, catchup=True, start=utc(2026, 11, 20, 6))
    assert [r.logical_date.day for r in got] == [21, 22, 23]


# --- timedelta schedules ----------------------------------------------------------------


def test_delta_trigger() -> None:
    start, now = utc(2026, 11, 24), utc(2026, 11, 24, 3, 30)
    got = runs(HOURLY_DELTA, catchup=True, start=start, now=now)
    assert [r.logical_date.hour for r in got] == [0, 1, 2, 3]
    assert all(r.data_interval_start == r.data_interval_end == r.logical_date for r in got)
    # Without catchup a delta trigger runs right away, then every delta after that run.
    (r,) = runs(HOURLY_DELTA, catchup=False, start=start, now=now)
    assert r.logical_date == now
    nxt = next_run(HOURLY_DELTA, start_date=start, end_date=None, last_logical_date=now,
                   now=now + timedelta(minutes=10), catchup=False)
    assert nxt is not None and nxt.run_after == now + timedelta(hours=1)


def test_delta_data_interval() -> None:
    start, now = utc(2026, 11, 24), utc(2026, 11, 24, 3, 30)
    got = runs(HOURLY_DELTA_INTERVAL, catchup=True, start=start, now=now)
    assert [(r.logical_date.hour, r.run_after.hour) for r in got] == [(0, 1), (1, 2), (2, 3)]
    (r,) = runs(HOURLY_DELTA_INTERVAL, catchup=False, start=start, now=now)
    assert r.data_interval == DataInterval(utc(2026, 11, 24, 2), utc(2026, 11, 24, 3))


# --- @once and no schedule -----------------------------------------------------------------


def test_once() -> None:
    once = Schedule(kind="once", expression="@once")
    (r,) = runs(once, catchup=False)
    assert r.logical_date == r.run_after == START
    assert runs(once, catchup=False, last=START) == ()
    (r,) = runs(once, catchup=False, start=None)
    assert r.logical_date == NOW
    assert runs(once, catchup=True, end=utc(2026, 10, 1)) == ()


def test_no_schedule_never_runs() -> None:
    none = Schedule()
    assert next_run(none, start_date=START, end_date=None, last_logical_date=None, now=NOW,
                    catchup=True) is None
    assert runs(none, catchup=True) == ()


# --- timezones -----------------------------------------------------------------------------


def test_cron_is_evaluated_in_the_dag_timezone_across_dst() -> None:
    sched = Schedule(kind="cron", expression="@daily", cron="0 0 * * *",
                     timezone="Europe/Amsterdam")
    got = runs(sched, catchup=True, start=datetime(2026, 10, 23, tzinfo=AMS),
               now=utc(2026, 10, 28))
    # Midnight in Amsterdam: 22:00 UTC in summer time (CEST), 23:00 UTC after Oct 25.
    assert [r.logical_date for r in got] == [
        utc(2026, 10, 22, 22), utc(2026, 10, 23, 22), utc(2026, 10, 24, 22),
        utc(2026, 10, 25, 23), utc(2026, 10, 26, 23), utc(2026, 10, 27, 23)]
    assert all(r.logical_date.tzinfo is UTC for r in got)


def test_naive_start_date_is_read_in_the_dag_timezone() -> None:
    sched = Schedule(kind="cron", cron="0 9 * * *", timezone="Asia/Tokyo")
    got = runs(sched, catchup=True, start=datetime(2026, 11, 22), now=utc(2026, 11, 24, 1))
    assert [r.logical_date for r in got] == [utc(2026, 11, 22, 0), utc(2026, 11, 23, 0),
                                              utc(2026, 11, 24, 0)]
    assert parse_date("2026-11-22", ZoneInfo("Asia/Tokyo")) == utc(2026, 11, 21, 15)
    assert parse_date("2026-11-22T00:00:00+00:00", AMS) == utc(2026, 11, 22)
    assert parse_date(None, AMS) is None


def test_wall_clock_time_skipped_by_dst_moves_forward() -> None:
    sched = Schedule(kind="cron", cron="30 2 * * *", timezone="Europe/Amsterdam")
    got = runs(sched, catchup=True, start=utc(2026, 3, 27), now=utc(2026, 3, 31))
    # 02:30 CET = 01:30 UTC; on Mar 29 02:30 does not exist -> 03:30 CEST = 01:30 UTC;
    # afterwards 02:30 CEST = 00:30 UTC.
    assert [r.logical_date for r in got] == [
        utc(2026, 3, 27, 1, 30), utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 30, 0, 30)]


def test_hourly_schedule_steps_through_the_repeated_hour() -> None:
    sched = Schedule(kind="cron", cron="30 * * * *", timezone="Europe/Amsterdam")
    got = runs(sched, catchup=True, start=utc(2026, 10, 24, 22), now=utc(2026, 10, 25, 4))
    times = [r.logical_date for r in got]
    assert times[0] == utc(2026, 10, 24, 22, 30)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(times))
    assert len(times) == 6  # 22:30, 23:30, 00:30, 01:30 (the folded 02:30), 02:30, 03:30 UTC


# --- manual runs ---------------------------------------------------------------------------


def test_manual_data_interval() -> None:
    at = utc(2026, 11, 24, 1, 1, 59, 463750)
    assert manual_data_interval(Schedule(), at) == DataInterval(at, at)
    assert manual_data_interval(DAILY, at) == DataInterval(at, at)
    assert manual_data_interval(HOURLY_DELTA, at) == DataInterval(at, at)
    assert manual_data_interval(Schedule(kind="once"), at) == DataInterval(at, at)
    assert manual_data_interval(DAILY_INTERVAL, at) == DataInterval(utc(2026, 11, 23),
                                                                    utc(2026, 11, 24))
    assert manual_data_interval(HOURLY_DELTA_INTERVAL, at) == DataInterval(
        at - timedelta(hours=1), at)
    assert manual_data_interval(DAILY, None) is None


# --- run ids -------------------------------------------------------------------------------


def test_run_ids() -> None:
    at = utc(2026, 11, 24, 1, 1, 59, 483583)
    assert run_id("manual", at) == "manual__2026-11-24T01:01:59.483583+00:00"
    assert run_id("scheduled", utc(2026, 11, 24)) == "scheduled__2026-11-24T00:00:00+00:00"
    assert run_id("asset_triggered", utc(2026, 11, 24, 1, 10, 21, 797533), suffix="vhhus0kv") \
        == "asset_triggered__2026-11-24T01:10:21.797533+00:00_vhhus0kv"
    local = datetime(2026, 11, 24, 2, tzinfo=AMS)
    assert run_id("backfill", local) == "backfill__2026-11-24T01:00:00+00:00"
    assert run_id("manual", datetime(2026, 11, 24)) == "manual__2026-11-24T00:00:00+00:00"
    with pytest.raises(ValueError):
        run_id("nightly", at)


def test_random_suffix() -> None:
    s = random_suffix(random.Random(7))
    assert len(s) == 8 and s.isalnum() and s == s.lower()
    assert s == random_suffix(random.Random(7))


# --- invalid schedules -----------------------------------------------------------------------


@pytest.mark.parametrize(("schedule", "field"), [
    (Schedule(kind="cron", cron="not a cron"), "schedule.cron"),
    (Schedule(kind="cron", cron="0 0 * * * *"), "schedule.cron"),
    (Schedule(kind="cron"), "schedule.cron"),
    (Schedule(kind="cron", cron="0 0 * * *", timezone="Mars/Olympus"), "schedule.timezone"),
    (Schedule(kind="timedelta", seconds=0), "schedule.seconds"),
])
def test_invalid_schedules(schedule: Schedule, field: str) -> None:
    with pytest.raises(InvalidSchedule) as info:
        next_run(schedule, start_date=START, end_date=None, last_logical_date=None, now=NOW,
                 catchup=False)
    assert info.value.field == field
