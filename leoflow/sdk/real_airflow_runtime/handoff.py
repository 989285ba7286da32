"""A real Airflow deferral handed to the control plane: the process ends, the try waits there.

Airflow's worker ends a deferred task's process and its triggerer runs the trigger. Leoflow's
control plane never imports user code, but it runs its own trigger kinds (``time``, ``file``,
``external_task``, ``hitl``: leoflow/engine/triggers/), which wait for what Airflow's
standard triggers wait for. So a ``DeferTask`` whose trigger class is one of those ends the
process with the shim's ``defer`` message (``leoflow.sdk.task_runner.deferral_message``):
the try shows ``deferred`` (``awaiting_input`` for a human-in-the-loop request) and holds no
process and no slot, exactly as a shim task's deferral.

* ``DateTimeTrigger`` / ``TimeDeltaTrigger`` (which serializes as a DateTimeTrigger) ->
  ``time`` with its ``moment``;
* ``FileTrigger`` -> ``file`` (a relative path made absolute from the task's directory);
* ``WorkflowTrigger`` -> ``external_task`` when it watches one logical date (the
  ExternalTaskSensor's case): ``execution_delta`` is this run's logical date minus that one;
  ``soft_fail`` makes the failed states skip, as the sensor's ``execute_complete`` does;
* an ``AwaitInputTask`` (Airflow 3.3's HITL operators) after a ``CreateHITLDetailPayload``
  (``comms_hitl.py``) -> ``hitl`` with the request, as ``leoflow.sdk.hitl`` sends it.

Any other class (a provider's) returns None here and keeps the in-process wait
(``deferral.py``). The resumed try gets its ``next_kwargs`` back plus the control plane's
``event``; ``resume_kwargs`` turns them into what Airflow's triggerer would have stored
(serde's JSON, the event as the Airflow trigger yields it: the moment as a datetime, ``True``
for a file, ``{"status": "success"}``, the HITL answer with ``responded_at`` a datetime), so
Airflow's own ``resume_execution`` calls ``execute_complete`` with it; a trigger's timeout
resumes into ``__fail__``, as Airflow's scheduler does.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from leoflow.sdk.channel import OP_DEFER

TRIGGER_KEY = "__leoflow_trigger__"  # in next_kwargs: which Airflow trigger was handed over
EVENT_KEY = "event"  # the control plane adds the trigger's event under this key
HITL = "hitl"  # the TRIGGER_KEY classpath of an AwaitInputTask
HITL_POKE_INTERVAL = 5.0  # seconds between store checks (leoflow.sdk.hitl's default)
_PROVIDER = "airflow.providers.standard.triggers."
DATE_TIME = _PROVIDER + "temporal.DateTimeTrigger"
FILE = _PROVIDER + "file.FileTrigger"
WORKFLOW = _PROVIDER + "external_task.WorkflowTrigger"

FAIL_METHOD = "__fail__"  # Airflow's TRIGGER_FAIL_REPR
# what the control plane resumes a real-Airflow try with when its trigger timed out
# (leoflow/engine/scheduler/deferral.py; the engine never imports the SDK: kept equal by a test)
TRIGGER_TIMEOUT_EVENT = {"__leoflow_trigger_timeout__": True}

Spec = dict[str, Any]


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def _time(kwargs: Mapping[str, Any], _where: Mapping[str, Any]) -> Spec | None:
    moment = _utc(kwargs.get("moment") if kwargs.get("moment") is not None
                  else kwargs.get("target_time"))
    if moment is None:  # an unrendered template or no moment: Airflow's own code decides
        return None
    return {"kind": "time", "kwargs": {"moment": moment.astimezone(timezone.utc).isoformat()}}


def _file(kwargs: Mapping[str, Any], where: Mapping[str, Any]) -> Spec | None:
    path = kwargs.get("filepath")
    if not isinstance(path, str) or not path:
        return None
    return {"kind": "file", "kwargs": {
        "filepath": os.path.join(str(where.get("cwd") or os.getcwd()), path),
        "recursive": bool(kwargs.get("recursive")),
        "poke_interval": float(kwargs.get("poke_interval") or 5.0)}}


def _states(value: Any) -> list[str]:
    return [str(getattr(s, "value", s)) for s in (value or [])]


def _workflow(kwargs: Mapping[str, Any], where: Mapping[str, Any]) -> Spec | None:
    dates = list(kwargs.get("logical_dates") or kwargs.get("execution_dates") or [])
    here = _utc(where.get("logical_date"))
    target = _utc(dates[0]) if len(dates) == 1 else None
    if kwargs.get("run_ids") or target is None or here is None:
        return None  # several runs, or by run id: the external_task kind reads one date
    failed, skipped = _states(kwargs.get("failed_states")), _states(kwargs.get("skipped_states"))
    if kwargs.get("soft_fail"):  # the sensor's execute_complete skips on a failure then
        failed, skipped = [], skipped + failed
    task_ids = kwargs.get("external_task_ids")
    spec: dict[str, Any] = {
        "external_dag_id": str(kwargs.get("external_dag_id") or ""),
        "external_task_ids": None if task_ids is None else [str(t) for t in task_ids],
        "allowed_states": _states(kwargs.get("allowed_states")) or ["success"],
        "failed_states": failed, "skipped_states": skipped,
        "execution_delta": (here - target).total_seconds(),
        "poke_interval": float(kwargs.get("poke_interval") or 2.0)}
    if kwargs.get("external_task_group_id"):
        spec["external_task_group_id"] = str(kwargs["external_task_group_id"])
    return {"kind": "external_task", "kwargs": spec}


MAPPED: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Spec | None]] = {
    DATE_TIME: _time, _PROVIDER + "temporal.TimeDeltaTrigger": _time, FILE: _file,
    WORKFLOW: _workflow}
"""Airflow trigger classpaths the control plane can wait for, and their conversion."""


def _serde() -> Any:
    return importlib.import_module("airflow.sdk.serde")


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _message(spec: Spec, classpath: str, report: Any, extra: Mapping[str, Any]) -> (
        dict[str, Any] | None):
    next_kwargs = dict(report.next_kwargs or {})  # serde's JSON already (Airflow's _defer_task)
    next_kwargs[TRIGGER_KEY] = {"classpath": classpath, **extra}
    try:
        json.dumps(next_kwargs)
        json.dumps(spec)
    except (TypeError, ValueError):
        return None
    timeout = getattr(report, "trigger_timeout", None)
    if timeout is None:
        timeout = getattr(report, "timeout", None)
    return {"op": OP_DEFER, "trigger": spec, "next_method": str(report.next_method),
            "next_kwargs": next_kwargs, "timeout": _seconds(timeout)}


def deferral(report: Any, where: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``defer`` final message for ``report`` (a ``DeferTask``), or None when its
    trigger class is not one the control plane runs. ``where``: the task's ``cwd`` and this
    run's ``logical_date``."""
    classpath = str(report.classpath)
    convert = MAPPED.get(classpath)
    if convert is None:
        return None
    try:
        kwargs = _serde().deserialize(report.trigger_kwargs or {}) or {}
        spec = convert(kwargs, where)
    except Exception:  # a form the conversion does not know: Airflow's own code decides
        return None
    if spec is None:
        return None
    extra = {"moment": spec["kwargs"]["moment"]} if spec["kind"] == "time" else {}
    return _message(spec, classpath, report, extra)


def hitl_deferral(report: Any, request: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``defer`` message of an ``AwaitInputTask``: the stored request (``comms_hitl``)
    waits as a ``hitl`` trigger; None when no request was made before it."""
    if request is None:
        return None
    timeout = _seconds(getattr(report, "timeout", None))
    timeout_at = (datetime.now(timezone.utc) + timedelta(seconds=timeout)
                  if timeout is not None else None)
    kwargs = {**request, "timeout_datetime": timeout_at.isoformat() if timeout_at else None,
              "poke_interval": HITL_POKE_INTERVAL}
    return _message({"kind": HITL, "kwargs": kwargs}, HITL, report, {})


def _event(trigger: Mapping[str, Any], event: Any) -> Any:
    """The control plane's event as the Airflow trigger would have yielded it."""
    classpath = trigger.get("classpath")
    if classpath == DATE_TIME:  # DateTimeTrigger yields its moment (a pendulum DateTime)
        moment = trigger.get("moment") or (event or {}).get("moment")
        return importlib.import_module("pendulum").parse(str(moment))
    if classpath == FILE:  # FileTrigger yields True once a file matched
        return True
    if classpath == HITL and isinstance(event, dict) and "chosen_options" in event:
        # Airflow's HITLDetail.as_resume_event_payload: responded_at is a datetime
        return {**event, "responded_at": _utc(event.get("responded_at"))}
    return event


def resume(next_method: str, next_kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A resumed try's method and ``next_kwargs`` as Airflow's scheduler and triggerer store
    them (serde's JSON, the event under ``event``). The control plane's trigger timeout
    (``TRIGGER_TIMEOUT_EVENT``) becomes Airflow's ``__fail__`` with ``TRIGGER_TIMEOUT``, so
    the operator's ``resume_execution`` raises what Airflow raises there. ``next_kwargs`` of
    a deferral not handed over pass unchanged."""
    kwargs = dict(next_kwargs or {})
    trigger = kwargs.pop(TRIGGER_KEY, None)
    if not isinstance(trigger, dict):
        return next_method, kwargs
    serde = _serde()
    event = kwargs.pop(EVENT_KEY, None)
    if event == TRIGGER_TIMEOUT_EVENT:
        reason = importlib.import_module("airflow.sdk.bases.operator").TriggerFailureReason
        return FAIL_METHOD, dict(serde.serialize({"error": reason.TRIGGER_TIMEOUT}))
    resumed = dict(serde.deserialize(kwargs) or {})
    resumed[EVENT_KEY] = _event(trigger, event)
    return next_method, dict(serde.serialize(resumed))
