"""Airflow import paths of the cross-DAG operators (``leoflow.sdk.cross_dag``)."""

from __future__ import annotations

from typing import Any

from leoflow.sdk.cross_dag import DagIsPaused, ExternalTaskMarker, TriggerDagRunOperator

_TRIGGER: dict[str, Any] = {"TriggerDagRunOperator": TriggerDagRunOperator,
                            "DagIsPaused": DagIsPaused}
_MARKER: dict[str, Any] = {"ExternalTaskMarker": ExternalTaskMarker}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    "airflow.providers.standard.operators.trigger_dagrun": _TRIGGER,
    "airflow.operators.trigger_dagrun": _TRIGGER,
    "airflow.providers.standard.sensors.external_task": _MARKER,
    "airflow.sensors.external_task": _MARKER,
    "airflow.sensors.external_task_sensor": _MARKER,
}
