"""Airflow's import paths of the human-in-the-loop operators, their trigger and exceptions,
and of ``BaseNotifier`` (which HITL tasks call when they start waiting)."""

from __future__ import annotations

from typing import Any

from leoflow.sdk import hitl
from leoflow.sdk.notifier import BaseNotifier

_OPERATORS = {name: getattr(hitl, name) for name in (
    "HITLOperator", "ApprovalOperator", "HITLBranchOperator", "HITLEntryOperator")}
_EXCEPTIONS = {name: getattr(hitl, name) for name in (
    "HITLTimeoutError", "HITLTriggerEventError", "HITLRejectException")}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    "airflow.providers.standard.operators.hitl": _OPERATORS,
    "airflow.providers.standard.triggers.hitl": {"HITLTrigger": hitl.HITLTrigger},
    "airflow.providers.standard.exceptions": _EXCEPTIONS,
    "airflow.sdk.bases.notifier": {"BaseNotifier": BaseNotifier},
    "airflow.notifications": {},
    "airflow.notifications.basenotifier": {"BaseNotifier": BaseNotifier},
    "airflow.sdk": {"BaseNotifier": BaseNotifier},
}
