"""One real Airflow DAG as the plain-JSON part of dag.json, as ``serialize_dag`` writes a
shim-compiled one (the compiler merges leoflow.yaml in, validates and hashes it)."""

from __future__ import annotations

import os
from datetime import timedelta
from importlib import metadata
from typing import Any

from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.params import json_keys
from leoflow.sdk.real_airflow import RUNTIME
from leoflow.sdk.real_airflow.assets import condition_json, dag_asset_fields
from leoflow.sdk.real_airflow.loading import Loaded
from leoflow.sdk.real_airflow.partitions import mapper_json
from leoflow.sdk.real_airflow.tasks import convert_task
from leoflow.sdk.real_airflow.values import display, iso, literal, seconds
from leoflow.sdk.serialize import CRON_PRESETS, timezone_name, timezone_name_of

_DISTRIBUTIONS = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk")


def airflow_versions() -> dict[str, str]:
    """The installed versions of Airflow's distributions (what the runtime pins against)."""
    found = {}
    for name in _DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def convert_dag(dag: Any, loaded: Loaded, project_dir: str) -> dict[str, Any]:
    order = {task_id: i for i, task_id in enumerate(dag.task_dict)}
    line = loaded.dag_lines.get(id(dag))
    fileloc = dag.fileloc or ""
    if fileloc and os.path.isabs(fileloc):
        fileloc = os.path.relpath(fileloc, project_dir)
    owners = sorted({str(t.owner) for t in dag.task_dict.values()}) or ["airflow"]
    return {
        "dag_id": dag.dag_id,
        "runtime": RUNTIME,
        "airflow_versions": airflow_versions(),
        "description": dag.description,
        "doc_md": dag.doc_md,
        "schedule": schedule_json(dag, line),
        "start_date": iso(dag.start_date),
        "end_date": iso(dag.end_date),
        "catchup": bool(dag.catchup),
        "max_active_runs": int(dag.max_active_runs),
        "max_active_tasks": int(dag.max_active_tasks),
        "dagrun_timeout": seconds(dag.dagrun_timeout),
        "params": _params(dag),
        "tags": sorted({str(t) for t in dag.tags or ()}),
        "owner": ", ".join(owners),
        "default_args": {k: display(v) for k, v in sorted((dag.default_args or {}).items())},
        "edge_labels": _edge_labels(dag),
        "task_groups": _groups(dag),
        "fileloc": fileloc,
        "line": line,
        "tasks": [convert_task(t, order, loaded.task_lines.get(id(t)))
                  for t in dag.task_dict.values()],
        **dag_asset_fields(dag),
    }


def _params(dag: Any) -> dict[str, Any]:
    out = {}
    for name in dag.params:
        param = dag.params.get_param(name)
        item: dict[str, Any] = {"schema": literal(json_keys(dict(param.schema or {}))),
                                "description": param.description}
        if param.has_value:
            item["default"] = literal(param.value)
        out[name] = item
    return out


def _edge_labels(dag: Any) -> list[dict[str, Any]]:
    labels = []
    for up, downs in sorted((dag.edge_info or {}).items()):
        for down, info in sorted(downs.items()):
            label = info.get("label") if isinstance(info, dict) else None
            if label:
                labels.append({"upstream": up, "downstream": down, "label": label})
    return labels


def _groups(dag: Any) -> list[dict[str, Any]]:
    groups: dict[str, Any] = {}
    for task in dag.task_dict.values():
        group = task.task_group
        while group is not None and group.group_id is not None:
            groups.setdefault(group.group_id, group)
            group = group.parent_group
    return [{"group_id": gid, "tooltip": g.tooltip or "",
             "parent": g.parent_group.group_id if g.parent_group else None}
            for gid, g in sorted(groups.items())]


def schedule_json(dag: Any, line: int | None) -> dict[str, Any]:
    """dag.json's ``schedule`` from what the DAG was given (``dag.schedule``)."""
    from airflow.sdk.definitions.asset import BaseAsset
    from airflow.sdk.definitions.timetables import assets, interval, simple, trigger

    tz_name = timezone_name(dag.start_date)
    base: dict[str, Any] = {"timezone": tz_name, "data_interval": False}

    def fail(message: str) -> DagDefinitionError:
        return DagDefinitionError(f"DAG {dag.dag_id!r}: {message}", file=dag.fileloc,
                                  line=line)

    def plain(value: Any) -> dict[str, Any]:
        if value is None or isinstance(value, simple.NullTimetable):
            return {**base, "kind": "none"}
        if isinstance(value, simple.OnceTimetable) or value == "@once":
            return {**base, "kind": "once", "expression": "@once"}
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("@") and text not in CRON_PRESETS:
                raise fail(f"schedule {text!r} is not supported; use @once, "
                           f"{', '.join(CRON_PRESETS)}, a cron expression or a timedelta")
            return {**base, "kind": "cron", "expression": text,
                    "cron": CRON_PRESETS.get(text, text)}
        if isinstance(value, timedelta):
            return {**base, "kind": "timedelta", "seconds": value.total_seconds()}
        if isinstance(value, (trigger.CronTriggerTimetable, interval.CronDataIntervalTimetable)):
            tz = value.timezone
            return {**plain(value.expression),
                    "timezone": tz if isinstance(tz, str) else timezone_name_of(tz),
                    "data_interval": isinstance(value, interval.CronDataIntervalTimetable)}
        if isinstance(value, (trigger.DeltaTriggerTimetable,
                              interval.DeltaDataIntervalTimetable)) and isinstance(
                value.delta, timedelta):
            return {**base, "kind": "timedelta", "seconds": value.delta.total_seconds(),
                    "data_interval": isinstance(value, interval.DeltaDataIntervalTimetable)}
        raise fail(f"schedule {value!r} ({type(value).__name__}) is not supported by "
                   "Leoflow's scheduler; use None, a cron string or preset, a timedelta, a "
                   "cron or delta timetable, or assets")

    schedule = dag.schedule
    if isinstance(schedule, trigger.CronPartitionTimetable):
        return {**plain(trigger.CronTriggerTimetable(schedule.expression,
                                                     timezone=schedule.timezone)),
                "partition": {"kind": "cron", "key_format": schedule.key_format,
                              "run_offset": literal(schedule.run_offset)}}
    if isinstance(schedule, assets.AssetOrTimeSchedule):
        return {**plain(schedule.timetable),
                "assets": condition_json(schedule.asset_condition)}
    if isinstance(schedule, assets.PartitionedAtRuntime):
        return {**base, "kind": "none", "partition": {"kind": "runtime"}}
    if isinstance(schedule, assets.PartitionedAssetTimetable):
        mappers = [{"ref": condition_json(key), "mapper": mapper_json(mapper)}
                   for key, mapper in schedule.partition_mapper_config.items()]
        return {**base, "kind": "assets", "assets": condition_json(schedule.asset_condition),
                "partition": {"kind": "assets",
                              "default_mapper": mapper_json(schedule.default_partition_mapper),
                              "mappers": mappers}}
    if isinstance(schedule, assets.AssetTriggeredTimetable):
        return {**base, "kind": "assets", "assets": condition_json(schedule.asset_condition)}
    if isinstance(schedule, (BaseAsset, list, tuple, set, frozenset)):
        if not schedule:
            raise fail("schedule is an empty list: name at least one asset")
        return {**base, "kind": "assets", "assets": condition_json(schedule)}
    return plain(schedule)

