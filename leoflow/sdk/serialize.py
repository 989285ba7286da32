"""Turn DAG objects into the plain-JSON part of dag.json.

The output is not yet canonical nor hashed: the compiler (in the control plane) merges in
leoflow.yaml, validates the whole document, sorts it and hashes it. Here we only describe
what the DAG file built, and fail with the task and argument that cannot be described.
"""

from __future__ import annotations

import math
import os
from datetime import date, datetime, timedelta, timezone
from typing import Any

from leoflow.sdk.asset_serialize import (
    dag_asset_fields,
    is_asset_schedule,
    schedule_json,
    task_asset_fields,
)
from leoflow.sdk.baseoperator import BaseOperator
from leoflow.sdk.dag import DAG
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.execute_hooks import hook_options
from leoflow.sdk.mapped_groups import mapped_group_of
from leoflow.sdk.mapping_spec import encode_derived, same_map_index
from leoflow.sdk.params import Param, json_keys
from leoflow.sdk.setup_teardown import spec_fields as setup_teardown_fields
from leoflow.sdk.taskgroup import TaskGroup
from leoflow.sdk.templating import template_options
from leoflow.sdk.timetables import CronTriggerTimetable, DeltaTriggerTimetable
from leoflow.sdk.xcom_arg import DagParam, XComArg

CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class SerializationError(DagDefinitionError):
    """A value in the DAG cannot be written to dag.json."""


def serialize_dag(dag: DAG, *, project_dir: str) -> dict[str, Any]:
    """Describe ``dag`` as a JSON-ready dict (``fileloc`` relative to ``project_dir``)."""
    order = {task_id: i for i, task_id in enumerate(dag.task_dict)}
    for op in dag.task_dict.values():  # before upstreams are read: may add dependencies
        op.collect_template_inputs()
    tasks = [serialize_task(t, order) for t in dag.task_dict.values()]
    tz_name = timezone_name(dag.start_date)
    fileloc = dag.fileloc or ""
    if fileloc and os.path.isabs(fileloc):
        fileloc = os.path.relpath(fileloc, project_dir)
    owners = sorted({t.owner for t in dag.task_dict.values()}) or ["airflow"]
    return {
        "dag_id": dag.dag_id,
        "description": dag.description,
        "doc_md": dag.doc_md,
        "schedule": serialize_schedule(dag, tz_name),
        "start_date": _iso(dag.start_date, dag, "start_date"),
        "end_date": _iso(dag.end_date, dag, "end_date"),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "dagrun_timeout": _seconds(dag.dagrun_timeout, dag, "dagrun_timeout"),
        "params": {name: serialize_param(name, p, dag) for name, p in dag.params.items()},
        "tags": sorted({str(t) for t in dag.tags}),
        "owner": ", ".join(owners),
        "default_args": _default_args(dag),
        "edge_labels": [
            {"upstream": up, "downstream": down, "label": label}
            for (up, down), label in sorted(dag.edge_labels.items())
        ],
        "task_groups": _groups(dag),
        "fileloc": fileloc,
        "line": dag.line,
        "tasks": tasks,
        **dag_asset_fields(dag, lambda value, where: encode_literal(
            value, f"DAG {dag.dag_id!r} {where}")),
    }


def serialize_task(op: BaseOperator, order: dict[str, int]) -> dict[str, Any]:
    def where(arg: str) -> str:
        return f"task {op.task_id!r} argument {arg!r}"

    upstream = sorted({u.task_id for u in op.upstream_tasks()},
                      key=lambda tid: (order.get(tid, len(order)), tid))
    inputs = {
        "args": [encode(v, where(_arg_name(op, i)), op) for i, v in enumerate(op.op_args)],
        "kwargs": {k: encode(v, where(k), op) for k, v in op.op_kwargs.items()},
    }
    expand: dict[str, Any] | None = None
    if op.expand_mode == "kwargs":
        # dag.json sorts keys, so the declaration order (which decides the order of the
        # cross product, as in Airflow) is kept explicitly.
        expand = {"mode": "kwargs", "order": list(op.expand_values),
                  "values": {k: encode(v, where(k), op) for k, v in op.expand_values.items()}}
    elif op.expand_mode == "list_of_kwargs":
        expand = {"mode": "list_of_kwargs",
                  "values": {"kwargs": encode(op.expand_values, where("expand_kwargs"), op)}}
    if expand is not None and mapped_group_of(op) is not None:
        expand["group"] = mapped_group_of(op)
    sensor = _sensor(op)
    return {
        **({"sensor": sensor} if sensor is not None else {}),
        **setup_teardown_fields(op),
        **task_asset_fields(op),
        "task_id": op.task_id,
        "operator": op.operator_kind,
        "operator_class": type(op).__name__,
        "upstream": upstream,
        "trigger_rule": op.trigger_rule,
        "retries": op.retries,
        "retry_delay": op.retry_delay,
        "retry_exponential_backoff": op.retry_exponential_backoff,
        "max_retry_delay": op.max_retry_delay,
        "execution_timeout": op.execution_timeout,
        "owner": op.owner,
        "pool": op.pool,
        "pool_slots": op.pool_slots,
        "priority_weight": op.priority_weight,
        "doc": op.doc,
        "group_id": op.task_group.group_id if op.task_group else None,
        "multiple_outputs": op.multiple_outputs,
        "callable": getattr(op.callable, "__qualname__", None) if op.callable else None,
        "inputs": inputs,
        "options": {k: encode_literal(v, where(k), op)
                    for k, v in {**getattr(op, "operator_options", op.options),
                                 **template_options(op), **hook_options(op)}.items()},
        "expand": expand,
        "line": op.line,
    }


def _sensor(op: BaseOperator) -> dict[str, Any] | None:
    """dag.json's ``sensor`` object (only sensors have the key, so other tasks' JSON and
    hashes stay as they were)."""
    from leoflow.sdk.sensors import BaseSensorOperator

    if not isinstance(op, BaseSensorOperator):
        return None
    spec = op.sensor_spec()
    trigger = spec.get("trigger")
    if trigger is not None:
        spec["trigger"] = encode_literal(trigger, f"task {op.task_id!r} sensor trigger", op)
    return spec


def encode(value: Any, where: str, op: BaseOperator) -> dict[str, Any]:
    """Encode an input value as a tagged value (see ``leoflow.engine.spec.model``)."""
    if isinstance(value, XComArg):
        derived = encode_derived(value, where, op, encode, encode_literal)
        if derived is not None:  # map / zip / concat / a mapped task group's argument
            return derived
        if value.operator.dag is not op.dag:
            raise SerializationError(
                f"{where}: uses the result of task {value.operator.task_id!r} from another "
                f"DAG ({value.operator.dag.dag_id!r}); tasks can only use results within "
                "their own DAG", file=op.fileloc, line=op.line)
        ref: dict[str, Any] = {"task_id": value.operator.task_id, "key": value.key}
        if same_map_index(value, op):
            ref["same_map_index"] = True
        return {"xcom": ref}
    if isinstance(value, DagParam):
        return {"param": {"name": value.name}}
    if isinstance(value, (list, tuple)):
        items = [encode(v, f"{where}[{i}]", op) for i, v in enumerate(value)]
        if all("literal" in item for item in items):
            return {"literal": [item["literal"] for item in items]}
        return {"list": items}
    if isinstance(value, dict):
        encoded: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SerializationError(
                    f"{where}: dict key {k!r} is a {type(k).__name__}; only string keys can "
                    "be stored as JSON", file=op.fileloc, line=op.line)
            encoded[k] = encode(v, f"{where}[{k!r}]", op)
        if all("literal" in item for item in encoded.values()):
            return {"literal": {k: item["literal"] for k, item in encoded.items()}}
        return {"dict": encoded}
    return {"literal": encode_literal(value, where, op)}


def encode_literal(value: Any, where: str, op: BaseOperator | None = None) -> Any:
    """A JSON value, or a ``SerializationError`` naming where the bad value is."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise SerializationError(f"{where}: {value!r} cannot be stored as JSON",
                                     file=op.fileloc if op else None,
                                     line=op.line if op else None)
        return value
    if isinstance(value, (list, tuple)):
        return [encode_literal(v, f"{where}[{i}]", op) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SerializationError(
                    f"{where}: dict key {k!r} is a {type(k).__name__}; only string keys can "
                    "be stored as JSON", file=op.fileloc if op else None,
                    line=op.line if op else None)
            out[k] = encode_literal(v, f"{where}[{k!r}]", op)
        return out
    raise SerializationError(
        f"{where}: a value of type {type(value).__name__} is not JSON-serializable; pass "
        "a str, number, bool, None, list or dict (e.g. a date as an ISO string)",
        file=op.fileloc if op else None, line=op.line if op else None)


def serialize_param(name: str, param: Param, dag: DAG) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema": encode_literal(json_keys(param.schema),
                                 f"DAG {dag.dag_id!r} param {name!r}"),
        "description": param.description,
    }
    if param.has_value:
        out["default"] = encode_literal(param.value, f"DAG {dag.dag_id!r} param {name!r}")
    return out


def serialize_schedule(dag: DAG, tz_name: str) -> dict[str, Any]:
    schedule = dag.schedule
    base: dict[str, Any] = {"timezone": tz_name, "data_interval": False}
    if schedule is None:
        return {**base, "kind": "none"}
    if is_asset_schedule(schedule):  # assets, conditions, partitioned timetables
        return schedule_json(dag, base,
                             lambda value: serialize_schedule_value(dag, value, tz_name))
    if isinstance(schedule, str):
        text = schedule.strip()
        if text == "@once":
            return {**base, "kind": "once", "expression": text}
        if text.startswith("@"):
            if text not in CRON_PRESETS:
                raise DagDefinitionError(
                    f"DAG {dag.dag_id!r}: unknown schedule preset {text!r}; use one of "
                    f"@once, {', '.join(CRON_PRESETS)} or a cron expression",
                    file=dag.fileloc, line=dag.line)
            return {**base, "kind": "cron", "expression": text, "cron": CRON_PRESETS[text]}
        return {**base, "kind": "cron", "expression": text, "cron": text}
    if isinstance(schedule, timedelta):
        return {**base, "kind": "timedelta", "seconds": schedule.total_seconds()}
    if isinstance(schedule, CronTriggerTimetable):
        inner = serialize_schedule_value(dag, schedule.cron, tz_name)
        tz = schedule.timezone
        return {**inner, "timezone": tz if isinstance(tz, str) else timezone_name_of(tz),
                "data_interval": schedule.data_interval}
    if isinstance(schedule, DeltaTriggerTimetable):
        return {**base, "kind": "timedelta", "seconds": schedule.delta.total_seconds(),
                "data_interval": schedule.data_interval}
    raise DagDefinitionError(
        f"DAG {dag.dag_id!r}: schedule {schedule!r} is not supported; use None, a cron "
        "string, a preset such as '@daily', a timedelta or a cron timetable",
        file=dag.fileloc, line=dag.line)


def serialize_schedule_value(dag: DAG, cron: Any, tz_name: str) -> dict[str, Any]:
    original = dag.schedule
    dag.schedule = cron
    try:
        return serialize_schedule(dag, tz_name)
    finally:
        dag.schedule = original


def timezone_name(start: datetime | None) -> str:
    if start is None or start.tzinfo is None:
        return "UTC"
    return timezone_name_of(start.tzinfo)


def timezone_name_of(tz: Any) -> str:
    for attr in ("key", "name", "zone"):
        value = getattr(tz, attr, None)
        if isinstance(value, str) and value:
            return value
    if tz is timezone.utc:
        return "UTC"
    name = tz.tzname(None) if hasattr(tz, "tzname") else None
    return name or "UTC"


def _iso(value: Any, dag: DAG, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).isoformat()
    raise DagDefinitionError(f"DAG {dag.dag_id!r}: {field} must be a datetime, got {value!r}",
                             file=dag.fileloc, line=dag.line)


def _seconds(value: Any, dag: DAG, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise DagDefinitionError(f"DAG {dag.dag_id!r}: {field} must be a timedelta, got {value!r}",
                             file=dag.fileloc, line=dag.line)


def _default_args(dag: DAG) -> dict[str, Any]:
    """default_args as JSON, for display; timedeltas become seconds, datetimes ISO strings."""
    out: dict[str, Any] = {}
    for key, value in sorted(dag.default_args.items()):
        if isinstance(value, timedelta):
            out[key] = value.total_seconds()
        elif isinstance(value, (datetime, date)):
            out[key] = _iso(value, dag, key)
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            out[key] = repr(value)
    return out


def _groups(dag: DAG) -> list[dict[str, Any]]:
    groups: dict[str, TaskGroup] = {}
    for op in dag.task_dict.values():
        group = op.task_group
        while group is not None:
            groups.setdefault(group.group_id, group)
            group = group.parent
    return [
        {"group_id": gid, "tooltip": g.tooltip,
         "parent": g.parent.group_id if g.parent else None}
        for gid, g in sorted(groups.items())
    ]


def _arg_name(op: BaseOperator, index: int) -> str:
    import inspect

    if op.callable is not None:
        try:
            params = [p for p in inspect.signature(op.callable).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            if index < len(params):
                return params[index].name
        except (TypeError, ValueError):
            pass
    return f"args[{index}]"
