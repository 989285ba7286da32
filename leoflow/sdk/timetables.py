"""Timetable objects accepted as ``schedule=``, with Airflow's class names.

A cron string is already a ``CronTriggerTimetable`` in Airflow 3; use
``CronDataIntervalTimetable`` to opt into runs that cover the interval before each tick.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any


class CronTriggerTimetable:
    """Run at each cron tick T with logical_date = T and an empty data interval."""

    data_interval = False

    def __init__(self, cron: str, *, timezone: Any = "UTC", **_ignored: Any) -> None:
        self.cron = cron
        self.timezone = timezone


class CronDataIntervalTimetable(CronTriggerTimetable):
    """Run after tick T for the interval [previous tick, T), logical_date = previous tick."""

    data_interval = True


class DeltaTriggerTimetable:
    """Run every ``delta`` from the start date."""

    data_interval = False

    def __init__(self, delta: timedelta, **_ignored: Any) -> None:
        self.delta = delta


class DeltaDataIntervalTimetable(DeltaTriggerTimetable):
    data_interval = True
