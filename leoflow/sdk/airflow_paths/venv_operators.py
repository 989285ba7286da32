"""Airflow import paths of the operators whose function runs in another Python environment."""

from __future__ import annotations

from typing import Any

from leoflow.sdk import venv_operators as ops

_OPERATORS: dict[str, Any] = {name: getattr(ops, name) for name in (
    "PythonVirtualenvOperator", "ExternalPythonOperator", "BranchPythonVirtualenvOperator",
    "BranchExternalPythonOperator")}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    # Airflow 3's standard provider and Airflow 2's core path
    "airflow.providers.standard.operators.python": dict(_OPERATORS),
    "airflow.operators.python": dict(_OPERATORS),
    "airflow.operators.python_operator": dict(_OPERATORS),
}
