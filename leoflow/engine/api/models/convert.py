"""Store rows (and the compiled spec of their version) → Airflow's response objects.

Everything the client's strict models require is filled here, from the row when Leoflow
stores it, from the DAG's spec when it is a property of the DAG file, and with Airflow's own
constants otherwise (``executor_config`` ``"{}"``, queue ``"default"``). Values a client
version might not know are folded into ones every supported client knows.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any, TypeGuard, get_args

from pydantic import TypeAdapter

from leoflow.engine.api.client_skew import KNOWS_AWAITING_INPUT
from leoflow.engine.api.models.dag_runs import DAGRunResponse, RunState, RunType, TriggeredBy
from leoflow.engine.api.models.dags import (
    DAGDetailsResponse,
    DAGResponse,
    DagTagResponse,
    DagVersionResponse,
)
from leoflow.engine.api.models.misc import ImportErrorResponse
from leoflow.engine.api.models.task_instances import (
    TI_STATES,
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
)
from leoflow.engine.services.rows import (
    DagRow,
    DagRunRow,
    DagVersionRow,
    ImportErrorRow,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
    TriggerRow,
)
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.errors import InvariantError

# what Airflow's clients know (the response models' literals)
RUN_TYPES: frozenset[str] = frozenset(get_args(RunType))
RUN_STATES: frozenset[str] = frozenset(get_args(RunState))
TRIGGERED_BY: frozenset[str] = frozenset(get_args(TriggeredBy))
DEFAULT_QUEUE = "default"
_DURATION = TypeAdapter(timedelta)


class SpecCache:
    """Parsed specs by version id. Versions are immutable, so an entry never goes stale."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._specs: OrderedDict[str, DagSpec | None] = OrderedDict()

    def get(self, version: DagVersionRow | None) -> DagSpec | None:
        if version is None:
            return None
        if version.id in self._specs:
            self._specs.move_to_end(version.id)
            return self._specs[version.id]
        try:
            spec: DagSpec | None = DagSpec.from_json(version.spec)
        except (KeyError, TypeError, ValueError):
            spec = None  # a damaged spec must not break listings: shown without details
        self._specs[version.id] = spec
        if len(self._specs) > self.size:
            self._specs.popitem(last=False)
        return spec


def _known_run_type(value: str) -> TypeGuard[RunType]:
    return value in RUN_TYPES


def _known_trigger(value: str | None) -> TypeGuard[TriggeredBy]:
    return value in TRIGGERED_BY


def _known_state(value: str) -> TypeGuard[RunState]:
    return value in RUN_STATES


def _run_state(run: DagRunRow) -> RunState:
    """A run's state as the API spells it: the store writes no other."""
    state = run.state
    if not _known_state(state):
        raise InvariantError(f"DAG run {run.dag_id}/{run.run_id} is in state {state!r}, "
                             f"not one of {sorted(RUN_STATES)}")
    return state


def display_name(dag_id: str, spec: DagSpec | None) -> str:
    if spec is not None:
        name = spec.raw.get("dag_display_name")
        if isinstance(name, str) and name:
            return name
    return dag_id


def task_display_name(task_id: str, task: TaskSpec | None, spec: DagSpec | None) -> str:
    if spec is not None and task is not None:
        raw: dict[str, Any] = next(
            (t for t in spec.raw.get("tasks", ()) if t.get("task_id") == task_id), {})
        name = raw.get("task_display_name")
        if isinstance(name, str) and name:
            return name
    return task_id


def task_of(spec: DagSpec | None, task_id: str) -> TaskSpec | None:
    if spec is None or task_id not in spec.task_ids:
        return None
    return spec.task(task_id)


def _parse_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _owners(spec: DagSpec | None) -> list[str]:
    if spec is None:
        return ["airflow"]
    names = {part.strip() for task in spec.tasks for part in task.owner.split(",")
             if part.strip()}
    return sorted(names) or [spec.owner]


def _timetable(spec: DagSpec | None) -> tuple[str | None, str, bool]:
    """(timetable_summary, timetable_description, periodic) as Airflow describes them."""
    schedule = spec.schedule if spec is not None else None
    partition = (schedule.partition or {}).get("kind") if schedule is not None else None
    if schedule is not None and schedule.kind == "assets":
        # AssetTriggeredTimetable / PartitionedAssetTimetable
        return ("Partitioned Asset" if partition == "assets" else "Asset",
                "Triggered by assets", False)
    if schedule is not None and schedule.assets:
        # AssetOrTimeSchedule: the timetable's words behind Airflow's prefixes
        summary, description, periodic = _time_timetable(schedule)
        return f"Asset or {summary}", f"Triggered by assets or {description}", periodic
    if partition == "runtime":  # PartitionedAtRuntime
        return "PartitionedAtRuntime", "Never, partition key(s) set at runtime", False
    return _time_timetable(schedule)


def _time_timetable(schedule: Any) -> tuple[str | None, str, bool]:
    if schedule is None or schedule.kind in ("none", "assets"):
        return None, "Never, external triggers only", False
    if schedule.kind == "once":
        return "@once", "Once, as soon as possible", False
    if schedule.kind == "cron":
        expression = schedule.expression or schedule.cron
        return expression, f"Cron schedule {schedule.cron} in {schedule.timezone}", True
    delta = timedelta(seconds=schedule.seconds or 0)
    return str(delta), f"Every {delta}", True


def file_token(fileloc: str) -> str:
    """An opaque token naming the DAG file (Airflow signs the path; clients only pass it on)."""
    return hashlib.sha256(fileloc.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def dag_version_response(version: DagVersionRow, spec: DagSpec | None) -> DagVersionResponse:
    return DagVersionResponse(
        id=version.id, version_number=version.version_number, dag_id=version.dag_id,
        created_at=version.created_at, dag_display_name=display_name(version.dag_id, spec))


def _dag_fields(dag: DagRow, spec: DagSpec | None, has_import_errors: bool) -> dict[str, Any]:
    name = display_name(dag.dag_id, spec)
    summary, description, periodic = _timetable(spec)
    fileloc = dag.fileloc or (spec.fileloc if spec else "") or ""
    tags = sorted(set(spec.tags)) if spec else []
    return {
        "dag_id": dag.dag_id,
        "dag_display_name": name,
        "is_paused": dag.is_paused,
        "is_stale": dag.is_stale,
        "last_parsed_time": dag.updated_at,
        "relative_fileloc": spec.fileloc if spec else None,
        "fileloc": fileloc,
        "description": spec.description if spec else None,
        "timetable_summary": summary,
        "timetable_description": description,
        "timetable_periodic": periodic,
        "timetable_partitioned": bool(spec and spec.schedule.partition),
        "is_backfillable": periodic,
        "tags": [DagTagResponse(name=t, dag_id=dag.dag_id, dag_display_name=name)
                 for t in tags],
        "max_active_tasks": spec.max_active_tasks if spec else 16,
        "max_active_runs": spec.max_active_runs if spec else 16,
        "has_import_errors": has_import_errors,
        "next_dagrun_logical_date": dag.next_dagrun_logical_date,
        "next_dagrun_data_interval_start": dag.next_dagrun_data_interval_start,
        "next_dagrun_data_interval_end": dag.next_dagrun_data_interval_end,
        "next_dagrun_run_after": dag.next_dagrun_after,
        "owners": _owners(spec),
        "file_token": file_token(fileloc or dag.dag_id),
    }


def dag_response(dag: DagRow, spec: DagSpec | None, *, has_import_errors: bool) -> DAGResponse:
    return DAGResponse(**_dag_fields(dag, spec, has_import_errors))


def _params(spec: DagSpec) -> dict[str, Any]:
    """Params as Airflow serializes them (``Param`` objects with value and schema)."""
    return {name: {"__class": "airflow.sdk.definitions.param.Param",
                   "value": param.get("default"), "description": param.get("description"),
                   "schema": param.get("schema") or {}}
            for name, param in spec.params.items()}


def dag_details_response(dag: DagRow, spec: DagSpec | None, version: DagVersionRow | None, *,
                         has_import_errors: bool, active_runs: int,
                         asset_expression: dict[str, Any] | None = None) -> DAGDetailsResponse:
    """``asset_expression``: the schedule's asset condition with the assets' ids
    (``services.asset_queries.expression_with_ids``), null for a DAG not scheduled on
    assets."""
    fields = _dag_fields(dag, spec, has_import_errors)
    timeout = spec.dagrun_timeout if spec else None
    return DAGDetailsResponse(
        **fields,
        catchup=spec.catchup if spec else False,
        dag_run_timeout=(_DURATION.dump_python(timedelta(seconds=timeout), mode="json")
                         if timeout else None),
        doc_md=spec.doc_md if spec else None,
        start_date=_parse_date(spec.start_date) if spec else None,
        end_date=_parse_date(spec.end_date) if spec else None,
        params=_params(spec) if spec else {},
        timezone=spec.schedule.timezone if spec else "UTC",
        last_parsed=dag.updated_at,
        default_args=dict(spec.default_args) if spec else {},
        active_runs_count=active_runs,
        asset_expression=asset_expression,
        latest_dag_version=dag_version_response(version, spec) if version else None,
        concurrency=fields["max_active_tasks"],
    )


def dag_run_response(run: DagRunRow, version: DagVersionRow | None,
                     spec: DagSpec | None) -> DAGRunResponse:
    duration = None
    if run.start_date is not None and run.end_date is not None:
        duration = (run.end_date - run.start_date).total_seconds()
    return DAGRunResponse(
        dag_run_id=run.run_id, dag_id=run.dag_id, logical_date=run.logical_date,
        queued_at=run.queued_at, start_date=run.start_date, end_date=run.end_date,
        duration=duration, data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end, run_after=run.run_after,
        last_scheduling_decision=run.last_scheduling_decision,
        # operator_triggered (3.3) and asset_materialization (3.2) are unknown to older
        # clients; both are runs someone asked for, i.e. manual ones.
        run_type=run.run_type if _known_run_type(run.run_type) else "manual",
        state=_run_state(run),
        triggered_by=run.triggered_by if _known_trigger(run.triggered_by) else None,
        triggering_user_name=run.triggering_user_name,
        conf=run.conf if isinstance(run.conf, dict) else None,
        note=run.note,
        dag_versions=[dag_version_response(version, spec)] if version else [],
        dag_display_name=display_name(run.dag_id, spec),
        partition_key=run.partition_key,
    )


def api_ti_state(state: str | None) -> str | None:
    """A task instance's state as the TI routes show it.

    ``awaiting_input`` (a human-in-the-loop task waiting for a person) is Airflow 3.3's state
    and what Airflow's UI and client 3.3 expect; the official client up to 3.2 refuses it,
    so to those clients (recognized by their User-Agent) it is shown as ``deferred``, as
    Airflow 3.1 and 3.2 themselves show such a task."""
    if state == "awaiting_input":
        return "awaiting_input" if KNOWS_AWAITING_INPUT.get() else "deferred"
    return state if state in TI_STATES else None


def _ti_common(row: TaskInstanceRow | TaskInstanceHistoryRow, spec: DagSpec | None,
               version: DagVersionRow | None) -> dict[str, Any]:
    task = task_of(spec, row.task_id)
    operator = (task.operator_class or task.operator) if task else row.operator
    return {
        "task_id": row.task_id,
        "dag_id": row.dag_id,
        "dag_run_id": row.run_id,
        "map_index": row.map_index,
        "start_date": row.start_date,
        "end_date": row.end_date,
        "duration": row.duration,
        "state": api_ti_state(row.state),
        "try_number": row.try_number,
        "max_tries": row.max_tries,
        "task_display_name": task_display_name(row.task_id, task, spec),
        "dag_display_name": display_name(row.dag_id, spec),
        "hostname": row.hostname,
        "pool": row.pool,
        "queue": DEFAULT_QUEUE,
        "operator": operator,
        "operator_name": operator,
        "queued_when": row.queued_at,
        "pid": row.pid,
        "executor": row.executor,
        "dag_version": dag_version_response(version, spec) if version else None,
    }


def task_instance_response(ti: TaskInstanceRow, run: DagRunRow, spec: DagSpec | None,
                           version: DagVersionRow | None,
                           trigger: TriggerRow | None = None) -> TaskInstanceResponse:
    return TaskInstanceResponse(
        **_ti_common(ti, spec, version),
        id=ti.id, logical_date=run.logical_date, run_after=run.run_after,
        pool_slots=ti.pool_slots, priority_weight=ti.priority_weight,
        scheduled_when=ti.scheduled_at, note=ti.note,
        rendered_map_index=ti.rendered_map_index,
        trigger=trigger_response(trigger) if trigger is not None else None)


def trigger_response(row: TriggerRow) -> dict[str, Any]:
    """Airflow's ``TriggerResponse`` (``kwargs`` as text, as Airflow serializes them), plus
    what it waits for and until when (``waiting_for``, ``timeout_at``: Leoflow's fields,
    which clients that do not know them ignore). ``triggerer_id`` is an integer job id in
    Airflow; Leoflow's triggerers are named replicas, so it is null."""
    from leoflow.engine.triggers.kinds import describe

    return {"id": row.id, "classpath": row.classpath,
            "kwargs": json.dumps(row.kwargs, sort_keys=True),
            "created_date": row.created_date.isoformat(), "triggerer_id": None,
            "queue": None, "waiting_for": describe(row.classpath, row.kwargs, row.due_at),
            "timeout_at": row.timeout_at.isoformat() if row.timeout_at else None}


def try_response(row: TaskInstanceHistoryRow, pool_slots: int, priority_weight: int | None,
                 spec: DagSpec | None, version: DagVersionRow | None
                 ) -> TaskInstanceHistoryResponse:
    return TaskInstanceHistoryResponse(**_ti_common(row, spec, version), pool_slots=pool_slots,
                                       priority_weight=priority_weight)


def current_try_response(ti: TaskInstanceRow, spec: DagSpec | None,
                         version: DagVersionRow | None) -> TaskInstanceHistoryResponse:
    """The live row as a try (the current one, not yet in the history)."""
    return TaskInstanceHistoryResponse(
        **_ti_common(ti, spec, version), pool_slots=ti.pool_slots,
        priority_weight=ti.priority_weight, scheduled_when=ti.scheduled_at)


def import_error_response(row: ImportErrorRow) -> ImportErrorResponse:
    trace = row.stack_trace or ""
    if row.message and row.message not in trace:
        trace = f"{row.message}\n{trace}" if trace else row.message
    return ImportErrorResponse(import_error_id=row.id, timestamp=row.timestamp,
                               filename=row.filename, stack_trace=trace)
