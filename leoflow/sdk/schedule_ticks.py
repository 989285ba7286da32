"""The next tick of a DAG's schedule after a moment, in the user process.

``LatestOnlyOperator`` needs it: a run is the latest when *now* lies before the end of the
interval that follows it. The control plane computes ticks with croniter, which the SDK may
not import (standard library only, DAG environments pin their own packages), so this module
evaluates the five cron fields itself: numbers, ``*``, ranges, steps, lists, month and day
names, ``7`` for Sunday, and cron's rule that a restricted day of month and a restricted day
of week match either. Wall-clock times are read in the schedule's timezone; a tick that falls
in a DST gap is taken as the first instant after it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (low, high, names) of minute, hour, day of month, month, day of week
_FIELDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, MONTHS), (0, 7, DAYS))
_SEARCH_DAYS = 366 * 8 + 2  # "29 February on a Monday" needs up to 28 years; enough for most


class CronError(ValueError):
    """A cron expression this module cannot read; the message names the field."""


def _value(text: str, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + (1 if names is MONTHS else 0)
    if not text.isdigit():
        raise CronError(f"{text!r} is not a number{' or a name' if names else ''}")
    return int(text)


def parse_field(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> frozenset[int]:
    """The values one cron field allows, e.g. ``"*/15"`` → {0, 15, 30, 45}."""
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"step {step_text!r} in {text!r} must be a positive number")
            step = int(step_text)
        if body in ("*", "?"):
            first, last = low, high
        elif "-" in body:
            start, _, end = body.partition("-")
            first, last = _value(start, names), _value(end, names)
        else:
            first = _value(body, names)
            last = high if step_text else first
        if not low <= first <= high or not low <= last <= high or first > last:
            raise CronError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


class Cron:
    """A parsed five-field cron expression."""

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 5:
            raise CronError(f"cron expression {expression!r} must have 5 fields "
                            "(minute hour day-of-month month day-of-week)")
        parsed = [parse_field(text, low, high, names)
                  for text, (low, high, names) in zip(fields, _FIELDS, strict=True)]
        self.minutes = sorted(parsed[0])
        self.hours = sorted(parsed[1])
        self.days, self.months = parsed[2], parsed[3]
        self.weekdays = frozenset(d % 7 for d in parsed[4])  # 7 is Sunday too
        self.dom_any = fields[2].startswith(("*", "?"))
        self.dow_any = fields[4].startswith(("*", "?"))

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom, dow = day.day in self.days, (day.weekday() + 1) % 7 in self.weekdays
        if self.dom_any or self.dow_any:
            return dom and dow
        return dom or dow

    def next_after(self, moment: datetime, tz: tzinfo) -> datetime:
        """The first tick strictly after ``moment`` (aware), as an aware UTC datetime."""
        local = moment.astimezone(tz).replace(tzinfo=None)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if self.matches_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        # fold=0: a wall-clock time in a DST gap lands just after the gap
                        tick = datetime.combine(day, dt_time(hour, minute), tzinfo=tz
                                                ).astimezone(UTC)
                        if tick > moment:
                            return tick
            day += timedelta(days=1)
        raise CronError(f"no tick within {_SEARCH_DAYS} days")


CRON_PRESETS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}


def _zone(value: Any, fallback: tzinfo) -> tzinfo:
    if value is None:
        return fallback
    if isinstance(value, str):
        return UTC if value.upper() == "UTC" else ZoneInfo(value)
    return value


def next_tick(schedule: Any, after: datetime, tz: tzinfo = UTC) -> datetime | None:
    """The schedule's first tick strictly after ``after``, or ``None`` when the schedule has
    no next tick (``None``, ``"@once"``, assets) or is a kind this module does not know.

    ``schedule`` is what the DAG was given: a cron string or preset, a ``timedelta`` or one of
    Leoflow's timetable objects. ``tz`` is the DAG's timezone (its start date's).
    """
    from leoflow.sdk.timetables import CronTriggerTimetable, DeltaTriggerTimetable

    if isinstance(schedule, timedelta):
        return after + schedule
    if isinstance(schedule, DeltaTriggerTimetable):
        return after + schedule.delta
    if isinstance(schedule, CronTriggerTimetable):
        tz, schedule = _zone(schedule.timezone, tz), schedule.cron
    if not isinstance(schedule, str) or schedule.strip() == "@once":
        return None
    text = schedule.strip()
    return Cron(CRON_PRESETS.get(text, text)).next_after(after, tz)
