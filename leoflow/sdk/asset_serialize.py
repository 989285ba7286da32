"""The asset parts of dag.json (``docs/assets.md``, ``docs/dag-json.md``).

- an asset reference: ``{"asset": {"name", "uri", "group"}}``, ``{"alias": {"name",
  "group"}}`` or ``{"asset_ref": {"name"}}`` / ``{"asset_ref": {"uri"}}``;
- a condition: a reference, ``{"all": [...]}`` (``&``, a list) or ``{"any": [...]}`` (``|``);
- ``schedule``: ``kind`` ``assets`` with ``assets`` (the condition), or a timetable's fields
  with ``assets`` beside them (``AssetOrTimeSchedule``), and ``partition`` when partitioned;
- a task's ``outlets`` / ``inlets``: lists of references (absent when empty);
- the DAG's ``assets`` (every Asset it names, once per name, as declared) and
  ``asset_aliases``: absent when empty, so a DAG without assets keeps its JSON and hash.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from leoflow.sdk.asset_timetables import (
    AssetOrTimeSchedule,
    CronPartitionTimetable,
    PartitionedAssetTimetable,
    PartitionedAtRuntime,
)
from leoflow.sdk.assets import (
    Asset,
    AssetAlias,
    AssetAny,
    AssetBooleanCondition,
    AssetNameRef,
    AssetUriRef,
    BaseAsset,
)
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.timetables import CronTriggerTimetable

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator
    from leoflow.sdk.dag import DAG

ASSET_SCHEDULES = (BaseAsset, AssetOrTimeSchedule, PartitionedAssetTimetable,
                   PartitionedAtRuntime, CronPartitionTimetable)


def ref_json(obj: Any) -> dict[str, Any] | None:
    """The reference form of an asset, alias or ``Asset.ref``; None for anything else."""
    if isinstance(obj, Asset):
        return {"asset": {"name": obj.name, "uri": obj.uri, "group": obj.group}}
    if isinstance(obj, AssetAlias):
        return {"alias": {"name": obj.name, "group": obj.group}}
    if isinstance(obj, AssetNameRef):
        return {"asset_ref": {"name": obj.name}}
    if isinstance(obj, AssetUriRef):
        return {"asset_ref": {"uri": obj.uri}}
    return None


def condition_json(obj: Any, where: str, fail: Callable[[str], Exception]) -> dict[str, Any]:
    """A condition: ``a & b`` → all, ``a | b`` → any, a list → all; ``fail(message)`` makes
    the error for anything that is not an asset."""
    ref = ref_json(obj)
    if ref is not None:
        return ref
    if isinstance(obj, AssetBooleanCondition):
        if not obj.objects:
            raise fail(f"{where} is an empty condition: name at least one asset")
        tag = "any" if isinstance(obj, AssetAny) else "all"
        return {tag: [condition_json(o, f"{where}[{i}]", fail)
                      for i, o in enumerate(obj.objects)]}
    if isinstance(obj, (list, tuple, set, frozenset)):
        if not obj:
            raise fail(f"{where} is an empty list: name at least one asset, or use "
                       "schedule=None for a DAG that runs only when triggered")
        return {"all": [condition_json(o, f"{where}[{i}]", fail)
                        for i, o in enumerate(list(obj))]}
    raise fail(f"{where} is {obj!r} ({type(obj).__name__}), not an asset: use Asset(...), "
               "AssetAlias(...), Asset.ref(name=...) or a condition of them (a & b, a | b)")


def is_asset_schedule(schedule: Any) -> bool:
    """Whether ``schedule=`` names assets or partitions (a list counts: ``[a, b]``)."""
    return isinstance(schedule, (*ASSET_SCHEDULES, list, tuple, set, frozenset))


def schedule_json(dag: DAG, base: dict[str, Any],
                  timetable_json: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """dag.json's ``schedule`` for an asset-aware ``schedule=``; ``timetable_json`` writes a
    plain timetable (the serializer's own rules), ``base`` holds timezone/data_interval."""
    schedule = dag.schedule

    def fail(message: str) -> DagDefinitionError:
        return DagDefinitionError(f"DAG {dag.dag_id!r}: {message}", file=dag.fileloc,
                                  line=dag.line)

    if isinstance(schedule, AssetOrTimeSchedule):
        timetable = schedule.timetable
        if is_asset_schedule(timetable):
            raise fail("AssetOrTimeSchedule timetable must be a time-based timetable "
                       f"(CronTriggerTimetable, ...), got {timetable!r}")
        return {**timetable_json(timetable),
                "assets": condition_json(schedule.asset_condition, "schedule assets", fail)}
    if isinstance(schedule, CronPartitionTimetable):
        plain = CronTriggerTimetable(schedule.cron, timezone=schedule.timezone)
        return {**timetable_json(plain),
                "partition": {"kind": "cron", "key_format": schedule.key_format,
                              "run_offset": schedule.run_offset}}
    if isinstance(schedule, PartitionedAtRuntime):
        return {**base, "kind": "none", "partition": {"kind": "runtime"}}
    if isinstance(schedule, PartitionedAssetTimetable):
        mappers = []
        for key, mapper in schedule.partition_mapper_config.items():
            mappers.append({"ref": condition_json(key, "partition_mapper_config key", fail),
                            "mapper": mapper.to_json()})
        return {**base, "kind": "assets",
                "assets": condition_json(schedule.asset_condition, "schedule assets", fail),
                "partition": {"kind": "assets",
                              "default_mapper": schedule.default_partition_mapper.to_json(),
                              "mappers": mappers}}
    return {**base, "kind": "assets", "assets": condition_json(schedule, "schedule", fail)}


def check_task_assets(field: str, value: Any, task_id: str, file: str | None,
                      line: int | None) -> list[Any]:
    """A task's ``outlets=`` / ``inlets=`` as a list (one object alone is a list of one, as
    in Airflow), each an asset, an alias or an ``Asset.ref``."""
    if not value:
        return []
    if isinstance(value, str) or ref_json(value) is not None or not hasattr(value, "__iter__"):
        items = [value]
    else:
        items = list(value)
    for i, item in enumerate(items):
        if ref_json(item) is None:
            hint = (f"; use Asset({item!r})" if isinstance(item, str) else "")
            raise DagDefinitionError(
                f"task {task_id!r}: {field}[{i}] is {item!r} ({type(item).__name__}), not an "
                f"asset: {field} take Asset(...), AssetAlias(...) or Asset.ref(...){hint}",
                file=file, line=line)
    return items


def task_asset_fields(op: BaseOperator) -> dict[str, Any]:
    """``{"outlets": [...], "inlets": [...]}`` of a task, without the empty ones."""
    out: dict[str, Any] = {}
    for field in ("outlets", "inlets"):
        refs = [ref_json(o) for o in getattr(op, field, None) or []]
        if refs:
            out[field] = refs
    return out


def _schedule_objects(schedule: Any) -> Iterator[Any]:
    if isinstance(schedule, (AssetOrTimeSchedule, PartitionedAssetTimetable)):
        yield from _leaves(schedule.asset_condition)
    if isinstance(schedule, PartitionedAssetTimetable):
        yield from schedule.partition_mapper_config
    if isinstance(schedule, (BaseAsset, list, tuple, set, frozenset)):
        yield from _leaves(schedule)


def _leaves(obj: Any) -> Iterator[Any]:
    if isinstance(obj, AssetBooleanCondition):
        for o in obj.objects:
            yield from _leaves(o)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for o in obj:
            yield from _leaves(o)
    else:
        yield obj


def definition_json(asset: Asset, encode: Callable[[Any, str], Any]) -> dict[str, Any]:
    """An asset as declared: dag.json's ``assets`` item."""
    return {"name": asset.name, "uri": asset.uri, "group": asset.group,
            "extra": encode(asset.extra, f"asset {asset.name!r} extra"),
            "watchers": [w.to_json() for w in asset.watchers],
            "access_control": asset.access_control.to_json() if asset.access_control else None}


def dag_asset_fields(dag: DAG, encode: Callable[[Any, str], Any]) -> dict[str, Any]:
    """dag.json's ``assets`` and ``asset_aliases``: every asset and alias the DAG names in
    its schedule, outlets and inlets, once per name (the first declaration that gives a
    field wins; one name with two URIs is an error)."""
    objects = list(_schedule_objects(dag.schedule))
    for op in dag.task_dict.values():
        objects.extend(getattr(op, "outlets", None) or [])
        objects.extend(getattr(op, "inlets", None) or [])
    assets: dict[str, dict[str, Any]] = {}
    aliases: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if isinstance(obj, AssetAlias):
            aliases.setdefault(obj.name, {"name": obj.name, "group": obj.group})
        elif isinstance(obj, Asset):
            new = definition_json(obj, encode)
            old = assets.get(obj.name)
            if old is None:
                assets[obj.name] = new
                continue
            if old["uri"] != new["uri"]:
                raise DagDefinitionError(
                    f"DAG {dag.dag_id!r} names two assets called {obj.name!r} with different "
                    f"URIs ({old['uri']!r} and {new['uri']!r}); an asset's name identifies it",
                    file=dag.fileloc, line=dag.line)
            for field in ("extra", "watchers", "access_control"):
                if not old[field] and new[field]:
                    old[field] = new[field]
    out: dict[str, Any] = {}
    if assets:
        out["assets"] = list(assets.values())
    if aliases:
        out["asset_aliases"] = list(aliases.values())
    return out
