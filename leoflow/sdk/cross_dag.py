"""Operators that reach another DAG: ``TriggerDagRunOperator`` and ``ExternalTaskMarker``.

A task never touches the metadata database. ``TriggerDagRunOperator`` renders its fields in
its process and ends that process with a request: it defers to a ``dag_run`` trigger whose
arguments say which run to create. The control plane carries the request out through its
runs service, in the tenant of the requesting DAG, exactly once per try (the trigger row
records the run it created, in the transaction that creates it), then keeps waiting on the
run when ``wait_for_completion`` is set. When the run exists (and has finished, if asked),
the same try resumes in ``execute_complete``, which pushes ``trigger_run_id`` as Airflow does.

``ExternalTaskMarker`` never starts a process: dag.json names the child task it stands for,
and clearing the marker clears that task (and what follows it) in the child DAG's run of the
same logical date, recursively up to ``recursion_depth`` (see docs/airflow-compat.md).

Standard library only: this runs in each DAG's own interpreter.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from leoflow.sdk.baseoperator import BaseOperator
from leoflow.sdk.errors import AirflowException, AirflowSkipException, DagDefinitionError
from leoflow.sdk.triggers import BaseTrigger, iso_moment
from leoflow.sdk.xcom_arg import XComArg

XCOM_RUN_ID = "trigger_run_id"
XCOM_LOGICAL_DATE_ISO = "trigger_logical_date_iso"
DAG_RUN_STATES = ("queued", "running", "success", "failed")
# Airflow's ExternalTaskMarker default: the child run has the parent run's logical date
DEFAULT_MARKER_DATE = "{{ logical_date.isoformat() }}"
TEMPLATE_MARKERS = ("{{", "{%")


class _NotSet:
    """Airflow's ``NOTSET``: an argument that was not given (``None`` means "no date")."""

    def __repr__(self) -> str:
        return "NOTSET"

    def __bool__(self) -> bool:
        return False


NOTSET: Any = _NotSet()


class DagIsPaused(AirflowException):
    """The DAG to trigger is paused and ``fail_when_dag_is_paused`` was set."""

    def __init__(self, dag_id: str) -> None:
        super().__init__(dag_id)
        self.dag_id = dag_id

    def __str__(self) -> str:
        return f"Dag {self.dag_id} is paused"


class DagRunTrigger(BaseTrigger):
    """The request a ``TriggerDagRunOperator`` hands the control plane (kind ``dag_run``).

    The control plane creates (or resets) the run, then fires at once, or, with
    ``wait_for_completion``, when the run reaches ``allowed_states`` or ``failed_states``.
    The event is ``{"status": "triggered", "run_id", "logical_date", "state"}``, or
    ``{"status": "failed" | "skipped", "reason"}`` when the run could not be made.
    """

    kind = "dag_run"

    def __init__(self, *, trigger_dag_id: str, run_id: str, logical_date: str | None,
                 conf: dict[str, Any], reset_dag_run: bool = False,
                 skip_when_already_exists: bool = False, wait_for_completion: bool = False,
                 allowed_states: list[str] | None = None,
                 failed_states: list[str] | None = None, poke_interval: float = 60.0,
                 fail_when_dag_is_paused: bool = False, note: str | None = None) -> None:
        self.kwargs: dict[str, Any] = {
            "trigger_dag_id": trigger_dag_id, "run_id": run_id, "logical_date": logical_date,
            "conf": conf, "reset_dag_run": bool(reset_dag_run),
            "skip_when_already_exists": bool(skip_when_already_exists),
            "wait_for_completion": bool(wait_for_completion),
            "allowed_states": list(allowed_states or ["success"]),
            "failed_states": list(["failed"] if failed_states is None else failed_states),
            "poke_interval": float(poke_interval),
            "fail_when_dag_is_paused": bool(fail_when_dag_is_paused), "note": note}

    def trigger_kwargs(self) -> dict[str, Any]:
        return dict(self.kwargs)


def _states(where: str, name: str, values: Any, default: list[str], op: BaseOperator
            ) -> list[str]:
    if values is None:
        return list(default)
    if isinstance(values, str) or not isinstance(values, (list, tuple, set)):
        raise DagDefinitionError(f"{where}: {name} must be a list of DAG run states, got "
                                 f"{values!r}", file=op.fileloc, line=op.line)
    states = [str(getattr(v, "value", v)) for v in values]
    bad = [s for s in states if s not in DAG_RUN_STATES]
    if bad:
        raise DagDefinitionError(f"{where}: {name} has {bad!r}, which are not DAG run states "
                                 f"({', '.join(DAG_RUN_STATES)})", file=op.fileloc,
                                 line=op.line)
    return states


def _date_input(value: Any) -> Any:
    """A datetime argument as dag.json can hold it (ISO text); templates stay as they are."""
    if isinstance(value, datetime):
        return iso_moment(value)
    return value


def parse_when(name: str, value: Any) -> datetime | None:
    """A rendered date argument: ``None``, a datetime or an ISO 8601 text (naive is UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} must be an ISO 8601 date and time, got {value!r}") from None
    else:
        raise TypeError(f"{name} must be a datetime or an ISO 8601 text, got {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class TriggerDagRunOperator(BaseOperator):
    """Airflow's ``TriggerDagRunOperator``: start a run of another DAG of the same tenant.

    ``trigger_dag_id``, ``trigger_run_id``, ``conf`` and ``logical_date`` are templated.
    Without ``logical_date`` the run's logical date is now (Airflow 3); ``logical_date=None``
    makes a run without one. The run's ``run_type`` is ``manual`` and ``triggered_by`` is
    ``operator`` (``operator_triggered`` is refused by API clients before 3.3). Waiting for
    completion always happens in the control plane; ``deferrable`` changes nothing but is
    accepted (see docs/airflow-compat.md).
    """

    operator_kind = "python"
    template_fields: ClassVar[tuple[str, ...]] = (
        "trigger_dag_id", "trigger_run_id", "logical_date", "conf", "wait_for_completion",
        "skip_when_already_exists")
    ui_color = "#ffefeb"

    def __init__(self, task_id: str | None = None, *, trigger_dag_id: str | None = None,
                 trigger_run_id: str | None = None, conf: dict[str, Any] | str | None = None,
                 logical_date: Any = NOTSET, run_after: Any = NOTSET,
                 reset_dag_run: bool = False, wait_for_completion: bool = False,
                 poke_interval: float | timedelta = 60, allowed_states: Any = None,
                 failed_states: Any = None, skip_when_already_exists: bool = False,
                 fail_when_dag_is_paused: bool = False, note: str | None = None,
                 deferrable: bool = False, openlineage_inject_parent_info: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(task_id=str(task_id), **kwargs)
        where = f"TriggerDagRunOperator({self.task_id!r})"
        if not isinstance(trigger_dag_id, (str, XComArg)) or not trigger_dag_id:
            raise DagDefinitionError(f"{where} needs trigger_dag_id (the DAG to trigger)",
                                     file=self.fileloc, line=self.line)
        if conf is not None and not isinstance(conf, (dict, str, XComArg)):
            raise DagDefinitionError(f"{where}: conf must be a dict (JSON object), got "
                                     f"{conf!r}", file=self.fileloc, line=self.line)
        for name, value in (("logical_date", logical_date), ("run_after", run_after)):
            if value is not NOTSET and value is not None and not isinstance(
                    value, (str, datetime, XComArg)):
                raise DagDefinitionError(f"{where}: {name} must be a datetime or an ISO text, "
                                         f"got {value!r}", file=self.fileloc, line=self.line)
        seconds = (poke_interval.total_seconds() if isinstance(poke_interval, timedelta)
                   else poke_interval)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise DagDefinitionError(f"{where}: poke_interval must be seconds >= 0, got "
                                     f"{poke_interval!r}", file=self.fileloc, line=self.line)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = logical_date
        self.run_after = run_after
        self.reset_dag_run = bool(reset_dag_run)
        self.wait_for_completion = wait_for_completion
        self.poke_interval = float(seconds)
        self.allowed_states = _states(where, "allowed_states", allowed_states or None,
                                      ["success"], self)
        self.failed_states = _states(where, "failed_states", failed_states, ["failed"], self)
        self.skip_when_already_exists = skip_when_already_exists
        self.fail_when_dag_is_paused = bool(fail_when_dag_is_paused)
        self.note = note
        self.deferrable = bool(deferrable)
        self.openlineage_inject_parent_info = openlineage_inject_parent_info
        inputs: dict[str, Any] = {
            "trigger_dag_id": trigger_dag_id, "trigger_run_id": trigger_run_id,
            "conf": conf, "wait_for_completion": wait_for_completion,
            "skip_when_already_exists": skip_when_already_exists}
        # NOTSET is not JSON: an absent key means "not given" (the logical date is now)
        if logical_date is not NOTSET:
            inputs["logical_date"] = _date_input(logical_date)
        if run_after is not NOTSET:
            inputs["run_after"] = _date_input(run_after)
        self.set_inputs(kwargs=inputs)

    def runs_execute(self) -> bool:
        """Its ``execute`` runs in the task's process with the rendered fields set on it."""
        return True

    def apply_inputs(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        super().apply_inputs(args, kwargs)
        if "logical_date" not in kwargs:
            self.logical_date = NOTSET
        if "run_after" not in kwargs:
            self.run_after = NOTSET

    def request(self) -> DagRunTrigger:
        """The ``dag_run`` request for the rendered fields (Airflow's ``execute`` rules)."""
        dag_id = self.trigger_dag_id
        if not isinstance(dag_id, str) or not dag_id.strip():
            raise ValueError(f"trigger_dag_id must render to a DAG id, got {dag_id!r}")
        now = datetime.now(timezone.utc)
        if self.logical_date is NOTSET:
            logical = None if self.run_after is not NOTSET else now
        else:
            logical = parse_when("logical_date", self.logical_date)
        after = logical if self.run_after is NOTSET else parse_when("run_after", self.run_after)
        conf = self.conf
        if isinstance(conf, str) and conf.strip():
            try:
                conf = json.loads(conf)
            except ValueError:
                raise ValueError(f"conf parameter should be JSON Serializable: {conf}") from None
        conf = conf or {}
        if not isinstance(conf, dict):
            raise ValueError(f"conf must be a JSON object (a dict), got {conf!r}")
        try:
            json.dumps(conf)
        except (TypeError, ValueError):
            raise ValueError(f"conf parameter should be JSON Serializable: {conf}") from None
        run_id = (str(self.trigger_run_id) if self.trigger_run_id
                  else f"manual__{(after or now).isoformat()}")
        return DagRunTrigger(
            trigger_dag_id=dag_id.strip(), run_id=run_id,
            logical_date=None if logical is None else logical.isoformat(), conf=conf,
            reset_dag_run=self.reset_dag_run,
            skip_when_already_exists=_truthy(self.skip_when_already_exists),
            wait_for_completion=_truthy(self.wait_for_completion),
            allowed_states=self.allowed_states, failed_states=self.failed_states,
            poke_interval=self.poke_interval,
            fail_when_dag_is_paused=self.fail_when_dag_is_paused, note=self.note)

    def execute(self, context: dict[str, Any]) -> Any:
        trigger = self.request()
        self.trigger_run_id = trigger.kwargs["run_id"]
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        """The run exists (and has finished, when asked to wait): push its id, judge it."""
        event = event if isinstance(event, dict) else {}
        status = event.get("status")
        if status == "skipped":
            raise AirflowSkipException(str(event.get("reason") or "skipped"))
        if status != "triggered":
            raise AirflowException(str(event.get("reason") or f"unexpected event {event!r}"))
        run_id, state = event.get("run_id"), event.get("state")
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key=XCOM_RUN_ID, value=run_id)
            if event.get("logical_date"):
                ti.xcom_push(key=XCOM_LOGICAL_DATE_ISO, value=event["logical_date"])
        print(f"Triggered DAG {self.trigger_dag_id}: run {run_id} (state {state})")
        if _truthy(self.wait_for_completion):
            if state in self.failed_states:
                raise AirflowException(f"{self.trigger_dag_id} failed with failed state "
                                       f"{state}")
            print(f"{self.trigger_dag_id} finished with allowed state {state}")


def _truthy(value: Any) -> bool:
    """A templated bool renders to text ("True", "false"): read it as Airflow's users mean."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class ExternalTaskMarker(BaseOperator):
    """Airflow's ``ExternalTaskMarker``: succeeds at once, without a process.

    Clearing it also clears ``external_task_id`` (and its downstream tasks) in the run of
    ``external_dag_id`` with the same logical date, and so on through markers there, at most
    ``recursion_depth`` levels. The control plane does the clearing and renders no Jinja, so
    ``logical_date`` is the default (the run's own logical date) or a fixed date.
    """

    operator_kind = "empty"
    ui_color = "#4db7db"

    def __init__(self, task_id: str | None = None, *, external_dag_id: str | None = None,
                 external_task_id: str | None = None,
                 logical_date: str | datetime | None = DEFAULT_MARKER_DATE,
                 recursion_depth: int = 10, **kwargs: Any) -> None:
        super().__init__(task_id=str(task_id), **kwargs)
        where = f"ExternalTaskMarker({self.task_id!r})"
        for name, value in (("external_dag_id", external_dag_id),
                            ("external_task_id", external_task_id)):
            if not isinstance(value, str) or not value:
                raise DagDefinitionError(f"{where} needs {name}", file=self.fileloc,
                                         line=self.line)
            if any(m in value for m in TEMPLATE_MARKERS):
                raise DagDefinitionError(
                    f"{where}: {name} {value!r} is a template; the control plane, which does "
                    "the clearing, renders no Jinja: give the id itself", file=self.fileloc,
                    line=self.line)
        if isinstance(recursion_depth, bool) or not isinstance(recursion_depth, int) or (
                recursion_depth <= 0):
            raise DagDefinitionError(f"{where}: recursion_depth should be a positive integer, "
                                     f"got {recursion_depth!r}", file=self.fileloc,
                                     line=self.line)
        if isinstance(logical_date, datetime):
            fixed: str | None = iso_moment(logical_date)
        elif isinstance(logical_date, str) and logical_date.replace(" ", "") == \
                DEFAULT_MARKER_DATE.replace(" ", ""):
            fixed = None
        elif isinstance(logical_date, str) and not any(m in logical_date
                                                       for m in TEMPLATE_MARKERS):
            try:
                fixed = iso_moment(parse_when("logical_date", logical_date))  # type: ignore[arg-type]
            except ValueError as exc:
                raise DagDefinitionError(f"{where}: {exc}", file=self.fileloc,
                                         line=self.line) from None
        else:
            raise DagDefinitionError(
                f"{where}: logical_date must be a datetime, an ISO text or the default "
                f"{DEFAULT_MARKER_DATE!r} (the control plane renders no other template), got "
                f"{logical_date!r}", file=self.fileloc, line=self.line)
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.logical_date = logical_date if fixed is None else fixed
        self.recursion_depth = recursion_depth
        self.options["external_task_marker"] = {
            "external_dag_id": external_dag_id, "external_task_id": external_task_id,
            "logical_date": fixed, "recursion_depth": recursion_depth}


__all__ = ["XCOM_LOGICAL_DATE_ISO", "XCOM_RUN_ID", "DagIsPaused", "DagRunTrigger",
           "ExternalTaskMarker", "TriggerDagRunOperator"]
