"""When a DAG runs by itself: Airflow 3's timetables, as pure functions of an injected ``now``.

Airflow 3 defaults (``[scheduler] create_cron_data_intervals = False``):

* a cron schedule is a **CronTriggerTimetable**: the run for tick T has
  ``logical_date = run_after = T`` and an empty data interval ``[T, T]``;
* a timedelta schedule is a **DeltaTriggerTimetable**: same shape, ticks every ``delta``;
* ``Schedule.data_interval`` opts into **CronDataIntervalTimetable** /
  **DeltaDataIntervalTimetable**: the run covering ``[T-1, T)`` has ``logical_date = T-1``
  and runs after ``T``;
* ``@once`` runs once at the start date (or at once without one); ``None`` never runs.

Cron is evaluated in the DAG's timezone (``Schedule.timezone``, UTC by default) with
Airflow's DST rules: a wall-clock time that does not exist is moved forward, an ambiguous one
takes its second occurrence, and schedules that fire at least hourly step through a folded
hour in absolute time instead of skipping it. Every returned datetime is timezone-aware UTC.

``catchup=False`` (Airflow's default) creates only the latest run not after ``now``;
``catchup=True`` creates every missed run in order (``runs_between``).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from leoflow.engine.scheduler.states import DagRunType
from leoflow.engine.spec.model import Schedule
from leoflow.errors import LeoflowError

CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@midnight": "0 0 * * *",
}


class InvalidSchedule(LeoflowError):
    """A schedule that cannot be evaluated (bad cron, unknown timezone, non-positive delta)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DataInterval:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class RunInfo:
    """One run a timetable asks for: its logical date, when it may start, what it covers."""

    logical_date: datetime
    run_after: datetime
    data_interval: DataInterval

    @property
    def data_interval_start(self) -> datetime:
        return self.data_interval.start

    @property
    def data_interval_end(self) -> datetime:
        return self.data_interval.end

    @classmethod
    def exact(cls, at: datetime) -> RunInfo:
        return cls(logical_date=at, run_after=at, data_interval=DataInterval(at, at))

    @classmethod
    def interval(cls, start: datetime, end: datetime) -> RunInfo:
        return cls(logical_date=start, run_after=end, data_interval=DataInterval(start, end))


# --- public functions ----------------------------------------------------------------------


def timezone_of(schedule: Schedule) -> tzinfo:
    """The DAG's timezone as a ``ZoneInfo``; ``InvalidSchedule`` for an unknown name."""
    name = schedule.timezone or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"unknown timezone {name!r}", field="schedule.timezone") from None


def parse_date(value: str | datetime | None, tz: tzinfo) -> datetime | None:
    """An ISO date or datetime as an aware UTC datetime; a naive one is read in ``tz``."""
    if value is None:
        return None
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        dt = _make_aware(dt, tz)
    return dt.astimezone(UTC)


def next_run(
    schedule: Schedule,
    *,
    start_date: datetime | None,
    end_date: datetime | None,
    last_logical_date: datetime | None,
    now: datetime,
    catchup: bool,
) -> RunInfo | None:
    """The next run the schedule asks for after the last automated one (Airflow's
    ``next_dagrun_info``), or None when there is none (no schedule, ``@once`` done, past the
    end date).

    ``last_logical_date`` is the logical date of the latest *scheduled* (or backfill) run,
    None before the first. The returned ``run_after`` may lie in the future: that is when the
    loop should create the run. Naive datetimes are read in the schedule's timezone.
    """
    tt = _timetable(schedule)
    if tt is None:
        return None
    tz = timezone_of(schedule)
    return tt.next_info(
        last=_aware(last_logical_date, tz),
        earliest=_aware(start_date, tz),
        latest=_aware(end_date, tz),
        now=_utc(now, tz),
        catchup=catchup,
    )


def runs_between(
    schedule: Schedule,
    *,
    start_date: datetime | None,
    end_date: datetime | None,
    last_logical_date: datetime | None,
    now: datetime,
    catchup: bool,
    limit: int = 1000,
) -> tuple[RunInfo, ...]:
    """Every run due by ``now`` after the last automated one, oldest first.

    With ``catchup=False`` that is at most the latest one; with ``catchup=True`` it is every
    missed run. ``limit`` bounds the answer (a minutely schedule with a start date years ago
    would otherwise produce millions); call again with the last one returned to continue.
    """
    runs: list[RunInfo] = []
    last = last_logical_date
    while len(runs) < limit:
        info = next_run(schedule, start_date=start_date, end_date=end_date,
                        last_logical_date=last, now=now, catchup=catchup)
        if info is None or info.run_after > _utc(now, timezone_of(schedule)):
            break
        if runs and info.logical_date <= runs[-1].logical_date:  # pragma: no cover - guard
            break
        runs.append(info)
        last = info.logical_date
    return tuple(runs)


def manual_data_interval(schedule: Schedule, logical_date: datetime | None) -> DataInterval | None:
    """The data interval of a manual run with logical date L (Airflow's
    ``infer_manual_data_interval``): ``[L, L]`` for no schedule, ``@once`` and the trigger
    timetables; the last complete interval before L for the data-interval timetables; None
    when the run has no logical date."""
    if logical_date is None:
        return None
    tz = timezone_of(schedule)
    at = _utc(logical_date, tz)
    tt = _timetable(schedule)
    if tt is None:
        return DataInterval(at, at)
    return tt.manual_interval(at)


def run_id(run_type: DagRunType | str, run_after: datetime, *, suffix: str | None = None) -> str:
    """A run id as Airflow 3 generates it: ``<run_type>__<run_after in ISO 8601 UTC>``.

    A run without a logical date gets a random suffix in Airflow
    (``asset_triggered__2026-11-24T01:10:21.797533+00:00_vhhus0kv``): pass
    ``suffix=random_suffix()`` for those.
    """
    kind = DagRunType(run_type)
    at = run_after if run_after.tzinfo else run_after.replace(tzinfo=UTC)
    text = f"{kind.value}__{at.astimezone(UTC).isoformat()}"
    return f"{text}_{suffix}" if suffix else text


def random_suffix(rng: random.Random | None = None) -> str:
    """Eight random lowercase letters and digits, as Airflow's ``get_random_string``."""
    chooser = rng or random.SystemRandom()
    return "".join(chooser.choices(string.ascii_lowercase + string.digits, k=8))


# --- timetables ------------------------------------------------------------------------------


def _timetable(schedule: Schedule) -> _Timetable | None:
    kind = schedule.kind
    if kind in ("none", "assets"):  # asset-triggered only: runs come from events, no timer
        return None
    if kind == "once":
        return _Once()
    if kind == "cron":
        expression = schedule.cron or schedule.expression
        if not expression:
            raise InvalidSchedule("a cron schedule needs an expression", field="schedule.cron")
        expression = CRON_PRESETS.get(expression, expression)
        if expression == "@once":
            return _Once()
        cron = _Cron(expression, timezone_of(schedule))
        return _DataIntervalCron(cron) if schedule.data_interval else _Trigger(cron)
    if kind == "timedelta":
        if not schedule.seconds or schedule.seconds <= 0:
            raise InvalidSchedule(f"schedule interval must be positive, not {schedule.seconds!r}",
                                  field="schedule.seconds")
        delta = _Delta(timedelta(seconds=schedule.seconds))
        return _DataIntervalDelta(delta) if schedule.data_interval else _Trigger(delta)
    raise InvalidSchedule(f"unknown schedule kind {kind!r}", field="schedule.kind")


class _Clock:
    """The tick arithmetic a timetable is built on (Airflow's CronMixin / DeltaMixin)."""

    def get_next(self, current: datetime) -> datetime:  # first tick strictly after
        raise NotImplementedError

    def get_prev(self, current: datetime) -> datetime:  # last tick strictly before
        raise NotImplementedError

    def align_next(self, current: datetime) -> datetime:  # current if on a tick, else next
        raise NotImplementedError

    def align_prev(self, current: datetime) -> datetime:  # current if on a tick, else prev
        raise NotImplementedError


class _Cron(_Clock):
    def __init__(self, expression: str, tz: tzinfo) -> None:
        try:
            probe = croniter(expression)
        except (CroniterBadCronError, CroniterBadDateError, ValueError) as e:
            raise InvalidSchedule(f"invalid cron expression {expression!r}: {e}",
                                  field="schedule.cron") from None
        if len(probe.expanded) > 5:
            raise InvalidSchedule(f"invalid cron expression {expression!r}: Airflow accepts "
                                  "five fields", field="schedule.cron")
        self.expression = expression
        self.tz = tz
        # Schedules firing every hour step through a DST fold in absolute time (Airflow's
        # "fold hour problem" workaround); others are placed on the wall clock.
        self.every_hour = probe.expanded[1] == ["*"]

    def get_next(self, current: datetime) -> datetime:
        naive = _make_naive(current, self.tz)
        scheduled = croniter(self.expression, start_time=naive).get_next(datetime)
        if not self.every_hour:
            return _make_aware(scheduled, self.tz).astimezone(UTC)
        return current.astimezone(UTC) + (scheduled - naive)

    def get_prev(self, current: datetime) -> datetime:
        naive = _make_naive(current, self.tz)
        scheduled = croniter(self.expression, start_time=naive).get_prev(datetime)
        if not self.every_hour:
            return _make_aware(scheduled, self.tz).astimezone(UTC)
        return current.astimezone(UTC) - (naive - scheduled)

    def align_next(self, current: datetime) -> datetime:
        next_time = self.get_next(current)
        return next_time if self.get_prev(next_time) != current else current

    def align_prev(self, current: datetime) -> datetime:
        prev_time = self.get_prev(current)
        return prev_time if self.get_next(prev_time) != current else current


class _Delta(_Clock):
    def __init__(self, delta: timedelta) -> None:
        self.delta = delta

    def get_next(self, current: datetime) -> datetime:
        return (current + self.delta).astimezone(UTC)

    def get_prev(self, current: datetime) -> datetime:
        return (current - self.delta).astimezone(UTC)

    def align_next(self, current: datetime) -> datetime:
        return current

    def align_prev(self, current: datetime) -> datetime:
        return current


class _Timetable:
    def next_info(self, *, last: datetime | None, earliest: datetime | None,
                  latest: datetime | None, now: datetime, catchup: bool) -> RunInfo | None:
        raise NotImplementedError

    def manual_interval(self, at: datetime) -> DataInterval:
        return DataInterval(at, at)


class _Once(_Timetable):
    def next_info(self, *, last: datetime | None, earliest: datetime | None,
                  latest: datetime | None, now: datetime, catchup: bool) -> RunInfo | None:
        if last is not None:
            return None
        # "@once" runs at the start date whatever catchup says (Airflow since 1.10).
        run_after = earliest or now
        if latest is not None and run_after > latest:
            return None
        return RunInfo.exact(run_after)


class _Trigger(_Timetable):
    """CronTriggerTimetable / DeltaTriggerTimetable with a zero interval and
    ``run_immediately=False`` (Airflow's defaults)."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock

    def _first_run(self, now: datetime) -> datetime:
        c = self.clock
        if isinstance(c, _Delta):
            return c.align_prev(now)
        past, upcoming = c.align_prev(now), c.align_next(now)
        buffer = max((upcoming - past) / 10, timedelta(minutes=5))
        return past if now - past <= buffer else upcoming

    def next_info(self, *, last: datetime | None, earliest: datetime | None,
                  latest: datetime | None, now: datetime, catchup: bool) -> RunInfo | None:
        c = self.clock
        if catchup:
            if last is not None:
                start = c.get_next(last)
            elif earliest is None:
                start = self._first_run(now)
            else:
                start = c.align_next(earliest)
        else:
            candidates = [c.align_prev(now)]
            if last is not None:
                candidates.append(c.get_next(last))
            elif earliest is None:
                candidates.append(self._first_run(now))
            if earliest is not None:
                candidates.append(c.align_next(earliest))
            start = max(candidates)
        if latest is not None and latest < start:
            return None
        return RunInfo.exact(start)


class _DataInterval(_Timetable):
    """CronDataIntervalTimetable / DeltaDataIntervalTimetable: a run per completed interval."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock

    def last_end(self, last: datetime) -> datetime:
        # The interval of the run with logical date L was [L, next(L)].
        return self.clock.get_next(last)

    def skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        raise NotImplementedError

    def next_info(self, *, last: datetime | None, earliest: datetime | None,
                  latest: datetime | None, now: datetime, catchup: bool) -> RunInfo | None:
        c = self.clock
        if not catchup:
            earliest = self.skip_to_latest(earliest, now)
        elif earliest is not None:
            earliest = c.align_next(earliest)
        if last is None:
            if earliest is None:
                return None
            start = earliest
        else:
            aligned_end = c.align_prev(self.last_end(last))
            start = max(aligned_end, earliest) if earliest is not None else aligned_end
        if latest is not None and start > latest:
            return None
        return RunInfo.interval(start, c.get_next(start))


class _DataIntervalCron(_DataInterval):
    def skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        c = self.clock
        last_start = c.get_prev(now)
        next_start = c.get_next(last_start)
        # On a boundary, the interval that just ended runs now; between boundaries, the last
        # complete one.
        new_start = last_start if next_start == now else c.get_prev(last_start)
        if earliest is None:
            return new_start
        return max(new_start, c.align_next(earliest))

    def manual_interval(self, at: datetime) -> DataInterval:
        end = self.clock.align_prev(at)
        return DataInterval(self.clock.get_prev(end), end)


class _DataIntervalDelta(_DataInterval):
    clock: _Delta

    def skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        seconds = self.clock.delta.total_seconds()
        ts = now.timestamp()
        rounded = datetime.fromtimestamp(ts - (ts % seconds), tz=UTC)
        new_start = self.clock.get_prev(rounded)
        if earliest is None:
            return new_start
        return max(new_start, earliest)

    def manual_interval(self, at: datetime) -> DataInterval:
        return DataInterval(self.clock.get_prev(at), at)


# --- timezone helpers -------------------------------------------------------------------------


def _aware(value: datetime | None, tz: tzinfo) -> datetime | None:
    return None if value is None else _utc(value, tz)


def _utc(value: datetime, tz: tzinfo) -> datetime:
    """``value`` in UTC; a naive one is a wall-clock time in ``tz``."""
    if value.tzinfo is None:
        value = _make_aware(value, tz)
    return value.astimezone(UTC)


def _make_naive(value: datetime, tz: tzinfo) -> datetime:
    return value.astimezone(tz).replace(tzinfo=None)


def _make_aware(naive: datetime, tz: tzinfo) -> datetime:
    """Place a wall-clock time in ``tz`` as Airflow (pendulum) does: a time skipped by a DST
    change moves forward by the gap; a repeated time takes its second occurrence."""
    dt = naive.replace(fold=1)
    before = tz.utcoffset(dt.replace(fold=0))
    after = tz.utcoffset(dt)
    if before is not None and after is not None and after > before:
        dt = dt + (after - before)
    return dt.replace(tzinfo=tz)
