"""Airflow import paths of the standard provider's date, weekday and latest-only branching
(Airflow 3's ``airflow.providers.standard...`` and Airflow 2's ``airflow.operators...``)."""

from __future__ import annotations

from typing import Any

from leoflow.sdk import standard_branching as sb

_BRANCH = {"BaseBranchOperator": sb.BaseBranchOperator}
_LATEST = {"LatestOnlyOperator": sb.LatestOnlyOperator}
_DATETIME = {"BranchDateTimeOperator": sb.BranchDateTimeOperator,
             "target_times_as_dates": sb.target_times_as_dates}
_WEEKDAY = {"BranchDayOfWeekOperator": sb.BranchDayOfWeekOperator, "WeekDay": sb.WeekDay}
_SENSOR = {"DayOfWeekSensor": sb.DayOfWeekSensor, "WeekDay": sb.WeekDay}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    "airflow.providers.standard.operators.branch": _BRANCH,
    "airflow.providers.standard.operators.latest_only": _LATEST,
    "airflow.providers.standard.operators.datetime": _DATETIME,
    "airflow.providers.standard.operators.weekday": _WEEKDAY,
    "airflow.providers.standard.sensors.weekday": _SENSOR,
    "airflow.providers.standard.utils": {},
    "airflow.providers.standard.utils.weekday": {"WeekDay": sb.WeekDay},
    "airflow.providers.common.compat.sdk": _BRANCH,
    "airflow.operators.branch": _BRANCH,
    "airflow.operators.latest_only": _LATEST,
    "airflow.operators.datetime": _DATETIME,
    "airflow.operators.weekday": _WEEKDAY,
    "airflow.sensors.weekday": _SENSOR,
    "airflow.utils.weekday": {"WeekDay": sb.WeekDay},
}
