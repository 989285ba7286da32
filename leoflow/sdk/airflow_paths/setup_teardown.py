"""Airflow import paths of ``@setup`` and ``@teardown`` (Airflow 3's ``airflow.sdk`` and
Airflow 2's ``airflow.decorators``); see ``leoflow.sdk.setup_teardown``."""

from __future__ import annotations

from typing import Any

from leoflow.sdk.setup_teardown import setup, teardown

_NAMES = {"setup": setup, "teardown": teardown}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    "airflow.sdk": _NAMES,
    "airflow.decorators": _NAMES,
    "airflow.sdk.definitions.decorators": _NAMES,
    "airflow.sdk.definitions.decorators.setup_teardown": {
        "setup_task": setup, "teardown_task": teardown},
    "airflow.decorators.setup_teardown": {"setup_task": setup, "teardown_task": teardown},
}
