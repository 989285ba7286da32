"""Airflow import paths of retry policies and the task state store (Airflow 3.3)."""

from __future__ import annotations

from typing import Any

from leoflow.sdk import retry_policy
from leoflow.sdk.task_state import NEVER_EXPIRE, TaskStateStore

_RETRY = {name: getattr(retry_policy, name) for name in (
    "ExceptionRetryPolicy", "RetryAction", "RetryDecision", "RetryPolicy", "RetryRule")}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    "airflow.sdk": dict(_RETRY),
    "airflow.sdk.definitions": {},
    "airflow.sdk.definitions.retry_policy": dict(_RETRY),
    "airflow.sdk.execution_time": {},
    "airflow.sdk.execution_time.context": {"NEVER_EXPIRE": NEVER_EXPIRE,
                                           "TaskStateStore": TaskStateStore},
}
