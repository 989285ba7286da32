"""The standard provider's branching by date, weekday and "latest run only".

``BaseBranchOperator`` (Airflow's base for operators that choose a branch in
``choose_branch(context)``) compiles to ``"operator": "branch"``: its ``execute`` runs in the
task's process and returns the chosen task ids, which the agent reports and the scheduler
applies exactly as for ``BranchPythonOperator`` (the other direct downstreams are skipped; a
task group id stands for its root tasks). On it, with Airflow 3.3's semantics:

* ``LatestOnlyOperator`` follows all its direct downstreams for a manual run, and for any
  other run only when now lies within (the run's data interval start, the next tick after its
  end]; otherwise it follows none (all are skipped).
* ``BranchDateTimeOperator`` follows ``follow_task_ids_if_true`` when now (or the run's
  logical date) lies between ``target_lower`` and ``target_upper`` (datetimes, or times of
  the day), else ``follow_task_ids_if_false``.
* ``BranchDayOfWeekOperator`` does the same for a day of the week; ``DayOfWeekSensor`` waits
  for one. ``WeekDay`` is Airflow's ISO weekday enum.

Standard library only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as dt_time
from typing import Any

from leoflow.sdk.baseoperator import BaseOperator
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.sensors import BaseSensorOperator

_MISSING: Any = object()


def utcnow() -> datetime:
    """The wall clock, as an aware UTC datetime (one place, so tests can set the day)."""
    return datetime.now(UTC)


@enum.unique
class WeekDay(enum.IntEnum):
    """Days of the week, numbered as ISO 8601 (``date.isoweekday()``): Monday is 1."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> WeekDay:
        """``"sunday"`` (any case) → ``WeekDay.SUNDAY``."""
        name = week_day_str.upper()
        if name not in cls.__members__:
            raise AttributeError(f'Invalid Week Day passed: "{week_day_str}"')
        return cls[name]

    @classmethod
    def convert(cls, day: str | WeekDay) -> int:
        return day if isinstance(day, WeekDay) else cls.get_weekday_number(week_day_str=day)

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str | WeekDay]) -> set[int]:
        """A day name, a ``WeekDay`` or an iterable of them, as a set of ISO day numbers."""
        if isinstance(week_day, WeekDay):
            week_day = {week_day}
        if not isinstance(week_day, Iterable):
            raise TypeError(f"Unsupported Type for week_day parameter: {type(week_day)}."
                            "Input should be iterable type: str, set, list, dict or Weekday "
                            "enum type")
        if isinstance(week_day, str):
            week_day = {week_day}
        return {cls.convert(item) for item in week_day}


def dag_timezone(dag: Any) -> tzinfo:
    """The DAG's timezone as Airflow derives it: its start date's, else UTC."""
    zone = getattr(dag, "timezone", None)
    if isinstance(zone, tzinfo):
        return zone
    start = getattr(dag, "start_date", None)
    if isinstance(start, datetime) and start.tzinfo is not None:
        return start.tzinfo
    return UTC


def _aware(value: datetime | None, tz: tzinfo) -> datetime | None:
    """Airflow's ``coerce_datetime``: a naive value is a wall-clock time in ``tz``."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=tz)


def _run_moment(context: dict[str, Any]) -> datetime | None:
    """The run's logical date, or its ``run_after`` when it has none (Airflow 3)."""
    moment = context.get("logical_date")
    if moment:
        return moment
    dag_run = context.get("dag_run")
    return getattr(dag_run, "run_after", None) or context.get("run_after")


def _task_ids(op: BaseOperator, name: str, value: Any) -> str | list[str]:
    """A ``follow_task_ids_*`` argument: one id or an iterable of ids (task or group ids)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return items
    raise DagDefinitionError(
        f"{type(op).__name__}({op.task_id!r}): {name} must be a task id or a list of task "
        f"ids, got {value!r}", file=op.fileloc, line=op.line)


def _week_days(op: BaseOperator, value: Any) -> set[int]:
    try:
        return WeekDay.validate_week_day(value)
    except (TypeError, AttributeError, KeyError) as exc:
        raise DagDefinitionError(
            f"{type(op).__name__}({op.task_id!r}): week_day {value!r} is not a day of the "
            f"week ({exc}); give a day name such as 'Monday', a WeekDay, or a set of them",
            file=op.fileloc, line=op.line) from None


def _required(op: BaseOperator, **values: Any) -> None:
    missing = [name for name, value in values.items() if value is _MISSING]
    if missing:
        raise DagDefinitionError(f"{type(op).__name__}({op.task_id!r}) needs "
                                 f"{', '.join(missing)}", file=op.fileloc, line=op.line)


class BaseBranchOperator(BaseOperator):
    """Subclass it and implement ``choose_branch(context)``: return a task id, a task group
    id, a list of them, or ``None``; the other direct downstream tasks are skipped."""

    operator_kind = "branch"
    inherits_from_skipmixin = True

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str] | None:
        raise NotImplementedError(f"{type(self).__name__} must implement "
                                  "choose_branch(context)")

    def execute(self, context: dict[str, Any]) -> str | list[str] | None:
        chosen = self.choose_branch(context)
        print(f"Branch into {chosen}")
        if chosen is None or isinstance(chosen, str):
            return chosen
        return list(chosen)  # a set is not JSON; the scheduler validates the ids

    def runs_execute(self) -> bool:
        """Always: ``execute`` calls ``choose_branch``, which subclasses implement."""
        return True


class LatestOnlyOperator(BaseBranchOperator):
    """Skip the direct downstream tasks unless this run is the latest scheduled one.

    A manual run always proceeds. Otherwise the run is the latest when now lies in
    (data interval start, next schedule tick after the data interval end]; a schedule with no
    next tick (``None``, ``@once``, assets) counts as latest, as in Airflow.
    """

    ui_color = "#e9ffdb"

    def choose_branch(self, context: dict[str, Any]) -> list[str]:
        everything = sorted(self.downstream_task_ids)
        dag_run = context.get("dag_run")
        if getattr(dag_run, "run_type", None) == "manual":
            print("Manually triggered DAG_Run: allowing execution to proceed.")
            return everything
        window = self.latest_window(context)
        if window is None:
            print("Last scheduled execution: allowing execution to proceed.")
            return everything
        now = utcnow()
        left, right = window
        print(f"Checking latest only with left_window: {left.isoformat()} right_window: "
              f"{right.isoformat()} now: {now.isoformat()}")
        if not left < now <= right:
            print("Not latest execution, skipping downstream.")
            return []
        print("Latest, allowing execution to proceed.")
        return everything

    def latest_window(self, context: dict[str, Any]) -> tuple[datetime, datetime] | None:
        """(left, right]: when a run of this interval is the latest one; ``None`` when the
        schedule has no next tick."""
        from leoflow.sdk.schedule_ticks import CronError, next_tick

        moment = _run_moment(context)
        start = context.get("data_interval_start") or moment
        end = context.get("data_interval_end") or moment
        if start is None or end is None:
            return None
        try:
            right = next_tick(self.dag.schedule, end, dag_timezone(self.dag))
        except (CronError, ValueError) as exc:
            print(f"Cannot compute the schedule's next tick ({exc}): allowing execution "
                  "to proceed.")
            return None
        return None if right is None else (start, right)


def target_times_as_dates(base_date: datetime, lower: datetime | dt_time | None,
                          upper: datetime | dt_time | None
                          ) -> tuple[datetime | None, datetime | None]:
    """Times of the day become datetimes on ``base_date``'s date; an upper time earlier
    than the lower one is on the next day (a window across midnight)."""
    if isinstance(lower, datetime) and isinstance(upper, datetime):
        return lower, upper
    if isinstance(lower, dt_time):
        lower = datetime.combine(base_date, lower)
    if isinstance(upper, dt_time):
        upper = datetime.combine(base_date, upper)
    if lower is None or upper is None:
        return lower, upper
    if upper < lower:
        upper += timedelta(days=1)
    return lower, upper


class BranchDateTimeOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` when now lies between ``target_lower`` and
    ``target_upper`` (either may be ``None``, not both), else ``follow_task_ids_if_false``.

    Targets are datetimes or times of the day; naive ones are in the DAG's timezone. With
    ``use_task_logical_date=True`` the run's logical date (or ``run_after`` when it has none)
    is compared instead of the wall clock.
    """

    def __init__(self, task_id: str | None = None, *,
                 follow_task_ids_if_true: str | Iterable[str] = _MISSING,
                 follow_task_ids_if_false: str | Iterable[str] = _MISSING,
                 target_lower: datetime | dt_time | None = _MISSING,
                 target_upper: datetime | dt_time | None = _MISSING,
                 use_task_logical_date: bool = False, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)  # type: ignore[arg-type]
        _required(self, follow_task_ids_if_true=follow_task_ids_if_true,
                  follow_task_ids_if_false=follow_task_ids_if_false,
                  target_lower=target_lower, target_upper=target_upper)
        if target_lower is None and target_upper is None:
            raise DagDefinitionError(
                f"BranchDateTimeOperator({self.task_id!r}): both target_upper and "
                "target_lower are None; at least one must be defined to be compared to the "
                "current datetime", file=self.fileloc, line=self.line)
        for name, value in (("target_lower", target_lower), ("target_upper", target_upper)):
            if value is not None and not isinstance(value, (datetime, dt_time)):
                raise DagDefinitionError(
                    f"BranchDateTimeOperator({self.task_id!r}): {name} must be a datetime, a "
                    f"time or None, got {value!r}", file=self.fileloc, line=self.line)
        self.follow_task_ids_if_true = _task_ids(self, "follow_task_ids_if_true",
                                                 follow_task_ids_if_true)
        self.follow_task_ids_if_false = _task_ids(self, "follow_task_ids_if_false",
                                                  follow_task_ids_if_false)
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.use_task_logical_date = bool(use_task_logical_date)
        self.options = {
            "follow_task_ids_if_true": self.follow_task_ids_if_true,
            "follow_task_ids_if_false": self.follow_task_ids_if_false,
            "target_lower": None if target_lower is None else target_lower.isoformat(),
            "target_upper": None if target_upper is None else target_upper.isoformat(),
            "use_task_logical_date": self.use_task_logical_date,
        }

    def choose_branch(self, context: dict[str, Any]) -> str | list[str]:
        now = _run_moment(context) if self.use_task_logical_date else None
        if now is None:
            now = utcnow()
        tz = dag_timezone(self.dag)
        lower, upper = target_times_as_dates(now, self.target_lower, self.target_upper)
        lower, upper = _aware(lower, tz), _aware(upper, tz)
        print(f"Comparing {now.isoformat()} with the window "
              f"[{lower.isoformat() if lower else '-'}, {upper.isoformat() if upper else '-'}]")
        if upper is not None and upper < now:
            return self.follow_task_ids_if_false
        if lower is not None and lower > now:
            return self.follow_task_ids_if_false
        return self.follow_task_ids_if_true


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` on the given day(s) of the week, else
    ``follow_task_ids_if_false``. ``week_day``: ``"Monday"``, ``WeekDay.MONDAY`` or a set.

    The day is today's in the DAG's timezone, or the run's logical date's with
    ``use_task_logical_date=True`` (``run_after`` when the run has no logical date).
    """

    def __init__(self, task_id: str | None = None, *,
                 follow_task_ids_if_true: str | Iterable[str] = _MISSING,
                 follow_task_ids_if_false: str | Iterable[str] = _MISSING,
                 week_day: str | Iterable[str] | WeekDay | Iterable[WeekDay] = _MISSING,
                 use_task_logical_date: bool = False, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)  # type: ignore[arg-type]
        _required(self, follow_task_ids_if_true=follow_task_ids_if_true,
                  follow_task_ids_if_false=follow_task_ids_if_false, week_day=week_day)
        self.follow_task_ids_if_true = _task_ids(self, "follow_task_ids_if_true",
                                                 follow_task_ids_if_true)
        self.follow_task_ids_if_false = _task_ids(self, "follow_task_ids_if_false",
                                                  follow_task_ids_if_false)
        self.week_day = week_day
        self._week_day_num = _week_days(self, week_day)
        self.use_task_logical_date = bool(use_task_logical_date)
        self.options = {
            "follow_task_ids_if_true": self.follow_task_ids_if_true,
            "follow_task_ids_if_false": self.follow_task_ids_if_false,
            "week_day": sorted(self._week_day_num),
            "use_task_logical_date": self.use_task_logical_date,
        }

    def choose_branch(self, context: dict[str, Any]) -> str | list[str]:
        now = _run_moment(context) if self.use_task_logical_date else None
        if now is None:
            now = utcnow().astimezone(dag_timezone(self.dag))
        day = WeekDay(now.isoweekday())
        print(f"Today is {day.name}; following the branch for "
              f"{'a' if day in self._week_day_num else 'no'} match with "
              f"{sorted(WeekDay(d).name for d in self._week_day_num)}")
        if day in self._week_day_num:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false


class DayOfWeekSensor(BaseSensorOperator):
    """Wait until the day of the week is one of ``week_day`` (UTC's day, or the run's
    logical date's with ``use_task_logical_date=True``)."""

    def __init__(self, task_id: str | None = None, *,
                 week_day: str | Iterable[str] | WeekDay | Iterable[WeekDay] = _MISSING,
                 use_task_logical_date: bool = False, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)  # type: ignore[arg-type]
        _required(self, week_day=week_day)
        self.week_day = week_day
        self._week_day_num = _week_days(self, week_day)
        self.use_task_logical_date = bool(use_task_logical_date)
        self.options = {"week_day": sorted(self._week_day_num),
                        "use_task_logical_date": self.use_task_logical_date}

    def poke(self, context: dict[str, Any]) -> bool:
        today = utcnow()
        print(f"Poking until weekday is in {self.week_day}, Today is "
              f"{WeekDay(today.isoweekday()).name}")
        if self.use_task_logical_date:
            moment = _run_moment(context)
            if moment is None:
                raise ValueError("Either `logical_date` or `run_after` should be provided in "
                                 "the task context when `use_task_logical_date` is True")
            return moment.isoweekday() in self._week_day_num
        return today.isoweekday() in self._week_day_num
