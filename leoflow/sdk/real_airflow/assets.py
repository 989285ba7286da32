"""Real Airflow assets as dag.json's asset structures (``leoflow.sdk.asset_serialize``
describes them): references, conditions, a task's ``outlets``/``inlets`` and the DAG's
``assets``/``asset_aliases``."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.real_airflow.values import literal


def ref_json(obj: Any) -> dict[str, Any] | None:
    from airflow.sdk.definitions.asset import Asset, AssetAlias, AssetNameRef, AssetUriRef

    if isinstance(obj, Asset):
        return {"asset": {"name": obj.name, "uri": obj.uri, "group": obj.group}}
    if isinstance(obj, AssetAlias):
        return {"alias": {"name": obj.name, "group": obj.group}}
    if isinstance(obj, AssetNameRef):
        return {"asset_ref": {"name": obj.name}}
    if isinstance(obj, AssetUriRef):
        return {"asset_ref": {"uri": obj.uri}}
    return None


def condition_json(obj: Any) -> dict[str, Any]:
    """``a & b`` (or a list) → ``all``, ``a | b`` → ``any``, a reference as itself."""
    from airflow.sdk.definitions.asset import AssetAny, AssetBooleanCondition

    ref = ref_json(obj)
    if ref is not None:
        return ref
    if isinstance(obj, AssetBooleanCondition):
        tag = "any" if isinstance(obj, AssetAny) else "all"
        return {tag: [condition_json(o) for o in obj.objects]}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return {"all": [condition_json(o) for o in obj]}
    raise ValueError(f"{obj!r} ({type(obj).__name__}) is not an asset or a condition of assets")


def task_asset_fields(task: Any) -> dict[str, Any]:
    """``{"outlets": [...], "inlets": [...]}`` without the empty ones."""
    out: dict[str, Any] = {}
    for field in ("outlets", "inlets"):
        refs = [r for r in (ref_json(o) for o in getattr(task, field, None) or []) if r]
        if refs:
            out[field] = refs
    return out


def _leaves(obj: Any) -> Iterator[Any]:
    from airflow.sdk.definitions.asset import AssetBooleanCondition

    if isinstance(obj, AssetBooleanCondition):
        for o in obj.objects:
            yield from _leaves(o)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for o in obj:
            yield from _leaves(o)
    else:
        yield obj


def schedule_objects(schedule: Any) -> Iterator[Any]:
    """The assets and aliases a ``schedule=`` names (a condition, a list, a timetable)."""
    from airflow.sdk.definitions.asset import BaseAsset
    from airflow.sdk.definitions.timetables.assets import (
        AssetTriggeredTimetable,
        PartitionedAssetTimetable,
    )

    if isinstance(schedule, AssetTriggeredTimetable):
        yield from _leaves(schedule.asset_condition)
    if isinstance(schedule, PartitionedAssetTimetable):
        yield from schedule.partition_mapper_config
    if isinstance(schedule, (BaseAsset, list, tuple, set, frozenset)):
        yield from _leaves(schedule)


def _watcher_json(watcher: Any) -> dict[str, Any]:
    """An asset watcher with the trigger Leoflow's trigger runner runs in its place: the
    shim's twin of the real trigger class (found where the shim answers its import path),
    built from the real trigger's own ``serialize()`` arguments."""
    from leoflow.sdk import airflow_shim

    airflow_shim._load_extensions()
    trigger = watcher.trigger
    cls = type(trigger)
    twin_cls = airflow_shim.MODULES.get(cls.__module__, {}).get(cls.__name__)
    if twin_cls is None:
        raise DagDefinitionError(
            f"asset watcher {watcher.name!r}: trigger {cls.__module__}.{cls.__name__} is not "
            "one Leoflow's trigger runner runs (docs/assets.md lists them)")
    _, kwargs = trigger.serialize()
    accepted = inspect.signature(twin_cls).parameters
    twin = twin_cls(**{k: v for k, v in kwargs.items() if k in accepted})
    return {"name": watcher.name, "trigger": twin.serialize_spec()}


def _access_control_json(asset: Any) -> dict[str, Any] | None:
    """None for Airflow's default (no teams, global access), as the shim writes it."""
    control = getattr(asset, "access_control", None)
    if control is None:
        return None
    producers = list(control.producer_teams or [])
    consumers = None if control.consumer_teams is None else list(control.consumer_teams)
    if not producers and consumers is None and control.allow_global:
        return None
    return {"producer_teams": producers, "consumer_teams": consumers,
            "allow_global": bool(control.allow_global)}


def definition_json(asset: Any) -> dict[str, Any]:
    return {"name": asset.name, "uri": asset.uri, "group": asset.group,
            "extra": literal(dict(asset.extra or {})),
            "watchers": [_watcher_json(w) for w in getattr(asset, "watchers", None) or []],
            "access_control": _access_control_json(asset)}


def dag_asset_fields(dag: Any) -> dict[str, Any]:
    """dag.json's ``assets`` and ``asset_aliases`` (absent when empty), once per name."""
    from airflow.sdk.definitions.asset import Asset, AssetAlias

    objects = list(schedule_objects(getattr(dag, "schedule", None)))
    for task in dag.task_dict.values():
        objects.extend(getattr(task, "outlets", None) or [])
        objects.extend(getattr(task, "inlets", None) or [])
    assets: dict[str, dict[str, Any]] = {}
    aliases: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if isinstance(obj, AssetAlias):
            aliases.setdefault(obj.name, {"name": obj.name, "group": obj.group})
        elif isinstance(obj, Asset):
            new = definition_json(obj)
            old = assets.setdefault(obj.name, new)
            for field in ("extra", "watchers", "access_control"):
                if not old[field] and new[field]:
                    old[field] = new[field]
    out: dict[str, Any] = {}
    if assets:
        out["assets"] = list(assets.values())
    if aliases:
        out["asset_aliases"] = list(aliases.values())
    return out
