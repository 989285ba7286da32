"""Asset references and events as a running task sees them, shared by every asset accessor.

An asset object is duck-typed on the class names Airflow uses (``Asset`` and its ``Dataset``
/``Model`` aliases, ``AssetAlias``, ``AssetNameRef``/``AssetUriRef``) and their ``name``,
``uri`` and ``group`` attributes; a dag.json reference (``{"asset": {...}}``,
``{"alias": {...}}``, ``{"asset_ref": {...}}``) is accepted wherever an asset is, which is
what the agent uses to render templates without the DAG's objects. ``ref_of`` turns either
into the reference the channel carries, ``key_of_ref`` into a dictionary key; ``AssetEvent``
is an event as the control plane answers it. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from leoflow.sdk.context_objects import parse_datetime

Key = tuple[str, str]  # ("asset", name) | ("alias", name) | ("uri", uri)


class Requester(Protocol):
    """The channel to the agent (or, in the agent, a stand-in that calls the control plane)."""

    def request(self, op: str, **fields: Any) -> Any: ...


def class_names(obj: Any) -> set[str]:
    return {cls.__name__ for cls in type(obj).__mro__}


def ref_of(obj: Any) -> dict[str, Any]:
    """The dag.json reference of an asset-like object (or of a reference given as a dict)."""
    if isinstance(obj, Mapping):
        if len(obj) == 1 and next(iter(obj)) in ("asset", "alias", "asset_ref"):
            return {str(k): dict(v) for k, v in obj.items()}
        raise TypeError(f"not an asset reference: {obj!r}")
    names = class_names(obj)
    if "AssetAlias" in names or "AssetAliasInfo" in names:
        return {"alias": {"name": str(obj.name), "group": str(getattr(obj, "group", "") or "")}}
    if "AssetNameRef" in names:
        return {"asset_ref": {"name": str(obj.name)}}
    if "AssetUriRef" in names:
        return {"asset_ref": {"uri": str(obj.uri)}}
    if "AssetRef" in names:
        name, uri = getattr(obj, "name", None), getattr(obj, "uri", None)
        return {"asset_ref": {"name": str(name)} if name else {"uri": str(uri)}}
    name, uri = getattr(obj, "name", None), getattr(obj, "uri", None)
    if isinstance(name, str) and isinstance(uri, str):  # Asset, Dataset, Model, @asset
        return {"asset": {"name": name, "uri": uri,
                          "group": str(getattr(obj, "group", None) or "asset")}}
    raise TypeError(f"Key should be either an asset or an asset alias, not {type(obj)}")


def key_of_ref(ref: Mapping[str, Any]) -> Key:
    ((kind, body),) = ref.items()
    if kind == "alias":
        return ("alias", str(body["name"]))
    if kind == "asset" or body.get("name"):
        return ("asset", str(body["name"]))
    return ("uri", str(body["uri"]))


class AssetInfo:
    """An asset as the control plane describes it (``event.asset``): name, uri, group, extra."""

    def __init__(self, name: str, uri: str, group: str = "asset",
                 extra: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.uri = uri
        self.group = group
        self.extra = dict(extra or {})

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AssetInfo:
        return cls(str(raw.get("name") or raw.get("uri") or ""),
                   str(raw.get("uri") or raw.get("name") or ""),
                   str(raw.get("group") or "asset"), raw.get("extra") or {})

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, AssetInfo) and (self.name, self.uri) == (other.name, other.uri))

    def __hash__(self) -> int:
        return hash((self.name, self.uri))

    def __repr__(self) -> str:
        return (f"Asset(name={self.name!r}, uri={self.uri!r}, group={self.group!r}, "
                f"extra={self.extra!r})")


class AssetAliasInfo:
    """An alias an event came through (``event.source_aliases``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"AssetAlias(name={self.name!r})"


class AssetEvent:
    """One asset event, with the attributes of Airflow's ``AssetEventResult``."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.id: int | None = raw.get("id")
        self.asset = AssetInfo.from_json(raw.get("asset") or {})
        self.extra: dict[str, Any] = dict(raw.get("extra") or {})
        self.source_dag_id: str | None = raw.get("source_dag_id")
        self.source_run_id: str | None = raw.get("source_run_id")
        self.source_task_id: str | None = raw.get("source_task_id")
        self.source_map_index: int | None = raw.get("source_map_index")
        alias = raw.get("source_alias_name")
        self.source_aliases = [AssetAliasInfo(str(alias))] if alias else []
        self.partition_key: str | None = raw.get("partition_key")
        self.timestamp: datetime | None = parse_datetime(raw.get("timestamp"))

    def __repr__(self) -> str:
        return (f"AssetEvent(id={self.id!r}, asset={self.asset!r}, extra={self.extra!r}, "
                f"source_dag_id={self.source_dag_id!r}, source_run_id={self.source_run_id!r}, "
                f"source_task_id={self.source_task_id!r}, "
                f"source_map_index={self.source_map_index!r}, "
                f"partition_key={self.partition_key!r}, timestamp={self.timestamp!r})")


def known_assets(objs: Sequence[Any]) -> dict[Key, dict[str, Any]]:
    """The task's inlets/outlets by key, for resolving ``Asset.ref(uri=...)`` locally."""
    known: dict[Key, dict[str, Any]] = {}
    for obj in objs:
        try:
            ref = ref_of(obj)
        except TypeError:
            continue
        known[key_of_ref(ref)] = ref
        if "asset" in ref:
            known[("uri", ref["asset"]["uri"])] = ref
    return known


class ForAssetLookup:
    """``for_asset(name=..., uri=...)`` and ``for_asset_alias(name=...)``, Airflow's lookups
    shared by ``outlet_events``, ``inlet_events`` and ``triggering_asset_events``."""

    def __getitem__(self, key: Any) -> Any:
        raise NotImplementedError

    def for_asset(self, *, name: str | None = None, uri: str | None = None) -> Any:
        """``for_asset(name=..., uri=...)``: by the asset's name and/or URI."""
        if name and uri:
            return self[{"asset": {"name": name, "uri": uri, "group": "asset"}}]
        if name:
            return self[{"asset_ref": {"name": name}}]
        if uri:
            return self[{"asset_ref": {"uri": uri}}]
        raise ValueError("name and uri cannot both be None")

    def for_asset_alias(self, *, name: str) -> Any:
        return self[{"alias": {"name": name, "group": ""}}]
