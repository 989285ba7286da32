"""Assets while a task runs: ``outlet_events``, ``inlet_events``, ``triggering_asset_events``,
``asset_state_store``, and ``yield Metadata(...)``, with Airflow 3.3's behaviour.

What a task records for its outlets stays in the user process until the task ends: the
runner puts it in its final ``result`` message as ``outlet_events`` (a list of
``{"ref", "extra", "partition_keys", "added"}``; see ``outlet_events_message``), the agent
forwards it in ``ReportState`` and the scheduler emits the events in the transaction that
records the success. What a task reads (past events of an inlet, the asset state store) is a
request over the channel (``asset_events``, ``asset_state``): the agent asks the control
plane with the try's own token, so only assets of the DAG's own tenant are reachable.

Asset objects are duck-typed on the class names Airflow uses (``Asset`` and its ``Dataset``
/``Model`` aliases, ``AssetAlias``, ``AssetNameRef``/``AssetUriRef``) and their ``name``,
``uri`` and ``group`` attributes; a dag.json reference (``{"asset": {...}}``,
``{"alias": {...}}``, ``{"asset_ref": {...}}``) is accepted wherever an asset is, which is
what the agent uses to render templates without the DAG's objects.

Standard library only: this runs in the DAG's own interpreter.
"""

from __future__ import annotations

import collections
import inspect
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from leoflow.sdk.context_objects import parse_datetime

OP_ASSET_EVENTS = "asset_events"  # channel requests (leoflow.sdk.channel's protocol)
OP_ASSET_STATE = "asset_state"
STATE_ACTIONS = ("get", "set", "delete", "clear")
PARTITION_KEY_MAX_LENGTH = 250  # Airflow's ID_LEN, the width of its partition_key column

Key = tuple[str, str]  # ("asset", name) | ("alias", name) | ("uri", uri)


class Requester(Protocol):
    """The channel to the agent (or, in the agent, a stand-in that calls the control plane)."""

    def request(self, op: str, **fields: Any) -> Any: ...


# -- references ----------------------------------------------------------------------------
def _class_names(obj: Any) -> set[str]:
    return {cls.__name__ for cls in type(obj).__mro__}


def ref_of(obj: Any) -> dict[str, Any]:
    """The dag.json reference of an asset-like object (or of a reference given as a dict)."""
    if isinstance(obj, Mapping):
        if len(obj) == 1 and next(iter(obj)) in ("asset", "alias", "asset_ref"):
            return {str(k): dict(v) for k, v in obj.items()}
        raise TypeError(f"not an asset reference: {obj!r}")
    names = _class_names(obj)
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


def _key_of_ref(ref: Mapping[str, Any]) -> Key:
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


def _known_assets(objs: Sequence[Any]) -> dict[Key, dict[str, Any]]:
    """The task's inlets/outlets by key, for resolving ``Asset.ref(uri=...)`` locally."""
    known: dict[Key, dict[str, Any]] = {}
    for obj in objs:
        try:
            ref = ref_of(obj)
        except TypeError:
            continue
        known[_key_of_ref(ref)] = ref
        if "asset" in ref:
            known[("uri", ref["asset"]["uri"])] = ref
    return known


def _json_extra(extra: Any, what: str) -> dict[str, Any]:
    if not isinstance(extra, Mapping):
        raise TypeError(f"{what}: extra must be a dict, got {type(extra).__name__}")
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}: extra must be JSON data (it is stored with the asset "
                        f"event): {exc}") from None
    return dict(extra)


# -- outlet_events ---------------------------------------------------------------------------
class OutletEventAccessor:
    """``outlet_events[asset]``: the event this try will emit for one asset (or alias)."""

    def __init__(self, ref: dict[str, Any]) -> None:
        self.ref = ref
        self.extra: dict[str, Any] = {}
        self.asset_alias_events: list[dict[str, Any]] = []
        self.partition_keys: set[str] = set()

    @property
    def is_alias(self) -> bool:
        return "alias" in self.ref

    def add(self, asset: Any, extra: Mapping[str, Any] | None = None) -> None:
        """Emit an event for ``asset`` through this alias (Airflow does nothing on an asset)."""
        if not self.is_alias:
            return
        ref = ref_of(asset)
        if "alias" in ref:
            raise TypeError("outlet_events[alias].add() takes an Asset or Asset.ref(...), "
                            f"not an alias ({asset!r})")
        added: dict[str, Any] = dict(ref)
        if "asset" in ref:
            added["asset"] = {**ref["asset"], "extra": dict(getattr(asset, "extra", None) or {})}
        added["extra"] = _json_extra(extra or {}, f"outlet_events[{self._label()}].add()")
        self.asset_alias_events.append(added)

    def add_partitions(self, keys: str | Sequence[str]) -> None:
        """Give this asset's event partition keys (one event per key)."""
        if self.is_alias:
            raise TypeError("add_partitions() is not supported on asset alias outlet events; "
                            "partition keys can only be attached to a concrete asset.")
        for key in [keys] if isinstance(keys, str) else list(keys):
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"partition_key must not be empty or whitespace-only; "
                                 f"got {key!r}.")
            if len(key) > PARTITION_KEY_MAX_LENGTH:
                raise ValueError(f"partition_key must be at most {PARTITION_KEY_MAX_LENGTH} "
                                 f"characters; got {len(key)}.")
            self.partition_keys.add(key)

    def _label(self) -> str:
        ((kind, body),) = self.ref.items()
        return f"{kind} {body.get('name') or body.get('uri')!r}"

    def message(self) -> dict[str, Any]:
        """This accessor in the runner's ``result`` message."""
        return {"ref": self.ref,
                "extra": _json_extra(self.extra, f"outlet_events[{self._label()}].extra"),
                "partition_keys": sorted(self.partition_keys),
                "added": list(self.asset_alias_events)}

    def __repr__(self) -> str:
        return (f"OutletEventAccessor(key={self._label()}, extra={self.extra!r}, "
                f"asset_alias_events={self.asset_alias_events!r}, "
                f"partition_keys={self.partition_keys!r})")


class _ForAssetMixin:
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


class OutletEventAccessors(_ForAssetMixin, Mapping[Any, OutletEventAccessor]):
    """``outlet_events``: created on first use, as Airflow's lazy mapping."""

    def __init__(self, outlets: Sequence[Any] = ()) -> None:
        self._dict: dict[Key, OutletEventAccessor] = {}
        self._known = _known_assets(outlets)

    def __getitem__(self, key: Any) -> OutletEventAccessor:
        ref = ref_of(key)
        hashable = _key_of_ref(ref)
        known = self._known.get(hashable)
        if known is not None and "asset_ref" in ref:  # Asset.ref(...) of one of the outlets
            ref, hashable = known, _key_of_ref(known)
        if hashable not in self._dict:
            self._dict[hashable] = OutletEventAccessor(ref)
        return self._dict[hashable]

    def __iter__(self) -> Iterator[Any]:
        return iter(accessor.ref for accessor in self._dict.values())

    def __len__(self) -> int:
        return len(self._dict)

    def __str__(self) -> str:
        return f"OutletEventAccessors(_dict={self._dict})"


def outlet_events_message(accessors: Any) -> list[dict[str, Any]]:
    """The ``outlet_events`` of the ``result`` message: everything the task recorded (the
    control plane keeps the events of the task's own outlets and aliases, as Airflow's API
    server does)."""
    if not isinstance(accessors, OutletEventAccessors):
        return []
    return [accessor.message() for accessor in accessors._dict.values()]


def run_callable(func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any],
                 outlet_events: Any) -> Any:
    """Call ``func``; a generator function is run to its end, each ``Metadata`` it yields
    going into ``outlet_events`` (Airflow's ``create_executable_runner``), and its ``return``
    value is the task's result. Other yielded values are ignored, with a warning."""
    if not inspect.isgeneratorfunction(func):
        return func(*args, **kwargs)
    generator = func(*args, **kwargs)
    while True:
        try:
            item = next(generator)
        except StopIteration as stop:
            return stop.value
        if "Metadata" in _class_names(item) and outlet_events is not None:
            outlet_events[item.asset].extra.update(dict(item.extra or {}))
            alias = getattr(item, "alias", None)
            if alias:
                outlet_events[alias].add(item.asset, extra=item.extra)
        else:
            print(f"WARNING - Ignoring unknown data of {type(item)!r} received from task",
                  flush=True)


# -- inlet_events ------------------------------------------------------------------------------
class InletEventsAccessor(Sequence[AssetEvent]):
    """``inlet_events[asset]``: the asset's past events, fetched from the control plane on
    first use (oldest first), then indexed and sliced as a list, as in Airflow 3.3."""

    def __init__(self, ref: dict[str, Any], requester: Requester | None) -> None:
        self._ref = ref
        self._requester = requester
        self._after: str | None = None
        self._before: str | None = None
        self._ascending = True
        self._limit: int | None = None
        self._cache: list[AssetEvent] | None = None

    def after(self, after: str | datetime) -> InletEventsAccessor:
        self._after = after.isoformat() if isinstance(after, datetime) else str(after)
        self._cache = None
        return self

    def before(self, before: str | datetime) -> InletEventsAccessor:
        self._before = before.isoformat() if isinstance(before, datetime) else str(before)
        self._cache = None
        return self

    def ascending(self, ascending: bool = True) -> InletEventsAccessor:
        self._ascending = bool(ascending)
        self._cache = None
        return self

    def limit(self, limit: int) -> InletEventsAccessor:
        self._limit = int(limit)
        self._cache = None
        return self

    @property
    def _asset_events(self) -> list[AssetEvent]:
        if self._cache is None:
            if self._requester is None:
                raise RuntimeError("inlet_events can be read while the task runs only")
            raw = self._requester.request(
                OP_ASSET_EVENTS, ref=self._ref, limit=self._limit, ascending=self._ascending,
                after=self._after, before=self._before)
            self._cache = [AssetEvent(item) for item in raw or []]
        return self._cache

    def __iter__(self) -> Iterator[AssetEvent]:
        return iter(self._asset_events)

    def __len__(self) -> int:
        return len(self._asset_events)

    def __getitem__(self, key: Any) -> Any:
        return self._asset_events[key]

    def __repr__(self) -> str:
        return f"InletEventsAccessor({self._ref!r})"


class InletEventsAccessors(_ForAssetMixin, Mapping[Any, InletEventsAccessor]):
    """``inlet_events``: one lazy sequence per inlet of the task (an asset that is not an
    inlet is a ``KeyError``, as in Airflow); ``inlet_events[0]`` is the first inlet's."""

    def __init__(self, inlets: Sequence[Any], requester: Requester | None) -> None:
        self._inlets = list(inlets)
        self._requester = requester
        self._refs: dict[Key, dict[str, Any]] = {}
        for inlet in self._inlets:
            try:
                ref = ref_of(inlet)
            except TypeError:
                continue
            self._refs[_key_of_ref(ref)] = ref
            if "asset" in ref:
                self._refs.setdefault(("uri", ref["asset"]["uri"]), ref)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._inlets)

    def __len__(self) -> int:
        return len(self._inlets)

    def __getitem__(self, key: Any) -> InletEventsAccessor:
        obj = self._inlets[key] if isinstance(key, int) and not isinstance(key, bool) else key
        try:
            ref = ref_of(obj)
        except TypeError:
            if isinstance(key, int):
                raise IndexError(key) from None
            raise TypeError(f"`key` is of unknown type ({type(key).__name__})") from None
        found = self._refs.get(_key_of_ref(ref))
        if found is None:
            raise KeyError(obj)
        if "asset" in ref and "asset" in found and found["asset"]["uri"] != ref["asset"]["uri"]:
            raise KeyError(obj)  # same name, another URI: not this inlet (Airflow's key)
        return InletEventsAccessor(found, self._requester)

    def __repr__(self) -> str:
        return f"InletEventsAccessors({self._inlets!r})"


# -- triggering_asset_events --------------------------------------------------------------------
class TriggeringAssetEventsAccessor(_ForAssetMixin, Mapping[Any, list[AssetEvent]]):
    """``triggering_asset_events``: the events that created this run, by asset (and by the
    alias an event came through)."""

    def __init__(self, groups: Sequence[Mapping[str, Any]] = ()) -> None:
        self._events: dict[Key, list[AssetEvent]] = collections.defaultdict(list)
        self._assets: dict[Key, Any] = {}
        by_uri: dict[str, Key] = {}
        for group in groups or ():
            asset = AssetInfo.from_json(group.get("asset") or {})
            key: Key = ("asset", asset.name)
            self._assets[key] = asset
            by_uri[asset.uri] = key
            for raw in group.get("events") or ():
                event = AssetEvent({"asset": group.get("asset"), **raw})
                self._events[key].append(event)
                for alias in event.source_aliases:
                    self._events[("alias", alias.name)].append(event)
                    self._assets.setdefault(("alias", alias.name), alias)
        self._by_uri = by_uri

    def __getitem__(self, key: Any) -> list[AssetEvent]:
        hashable = _key_of_ref(ref_of(key))
        if hashable[0] == "uri" and hashable[1] in self._by_uri:
            hashable = self._by_uri[hashable[1]]
        if hashable not in self._events:
            raise KeyError(key)
        return self._events[hashable]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._assets[k] for k in self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __str__(self) -> str:
        return f"TriggeringAssetEventAccessor(_events={dict(self._events)})"

    __repr__ = __str__


# -- asset_state_store ---------------------------------------------------------------------------
class AssetStateStoreAccessor:
    """``asset_state_store[asset]``: JSON values kept with the asset across runs and DAGs."""

    def __init__(self, ref: dict[str, Any], requester: Requester) -> None:
        self._ref = ref
        self._requester = requester

    def _call(self, action: str, key: str = "", **fields: Any) -> Any:
        if action != "clear" and (not isinstance(key, str) or not key):
            raise ValueError(f"asset_state_store keys are non-empty strings, got {key!r}")
        return self._requester.request(OP_ASSET_STATE, ref=self._ref, action=action, key=key,
                                       **fields)

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value, or ``default`` if the key does not exist."""
        answer = self._call("get", key)
        if not isinstance(answer, dict) or not answer.get("found"):
            return default
        return answer.get("value")

    def set(self, key: str, value: Any) -> None:
        """Write or overwrite the value for ``key``; ``value`` must not be ``None``."""
        if value is None:
            raise ValueError("Cannot set value as None")
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(f"asset_state_store.set({key!r}): a value of type "
                            f"{type(value).__name__} is not JSON-serializable") from None
        self._call("set", key, value=value)

    def delete(self, key: str) -> None:
        """Delete one key (nothing happens if it does not exist)."""
        self._call("delete", key)

    def clear(self) -> None:
        """Delete every key of this asset."""
        self._call("clear")

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.set(key, value)

    async def adelete(self, key: str) -> None:
        self.delete(key)

    async def aclear(self) -> None:
        self.clear()

    def __repr__(self) -> str:
        ((_kind, body),) = self._ref.items()
        if body.get("name"):
            return f"<AssetStateStoreAccessor name={body['name']!r}>"
        return f"<AssetStateStoreAccessor uri={body.get('uri')!r}>"


class AssetStateStoreAccessors:
    """``asset_state_store``: one accessor per concrete inlet or outlet of the task (aliases
    are skipped); with exactly one, ``get``/``set``/``delete``/``clear`` work directly."""

    def __init__(self, inlets: Sequence[Any], outlets: Sequence[Any],
                 requester: Requester) -> None:
        self._by_name: dict[str, AssetStateStoreAccessor] = {}
        self._by_uri: dict[str, AssetStateStoreAccessor] = {}
        for obj in [*inlets, *outlets]:
            try:
                ref = ref_of(obj)
            except TypeError:
                continue
            if "alias" in ref:
                continue
            body = next(iter(ref.values()))
            if body.get("name"):
                name = str(body["name"])
                self._by_name.setdefault(name, AssetStateStoreAccessor(
                    {"asset_ref": {"name": name}}, requester))
            else:
                uri = str(body["uri"])
                self._by_uri.setdefault(uri, AssetStateStoreAccessor(
                    {"asset_ref": {"uri": uri}}, requester))

    def __getitem__(self, key: Any) -> AssetStateStoreAccessor:
        try:
            ref = ref_of(key)
        except TypeError:
            raise TypeError("Expected Asset, AssetNameRef, or AssetUriRef; got "
                            f"{type(key).__name__}") from None
        if "alias" in ref:
            raise TypeError("Expected Asset, AssetNameRef, or AssetUriRef; got AssetAlias")
        body = next(iter(ref.values()))
        found = (self._by_name.get(str(body["name"])) if body.get("name")
                 else self._by_uri.get(str(body.get("uri"))))
        if found is None:
            raise KeyError(f"{key!r} is not in this task's inlets or outlets")
        return found

    def _single(self) -> AssetStateStoreAccessor:
        total = len(self._by_name) + len(self._by_uri)
        if total != 1:
            raise ValueError(f"Task has {total} concrete inlets and outlets — use "
                             "context['asset_state_store'][MY_ASSET] to specify which")
        return next(iter([*self._by_name.values(), *self._by_uri.values()]))

    def get(self, key: str, default: Any = None) -> Any:
        return self._single().get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._single().set(key, value)

    def delete(self, key: str) -> None:
        self._single().delete(key)

    def clear(self) -> None:
        self._single().clear()

    async def aget(self, key: str, default: Any = None) -> Any:
        return self._single().get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self._single().set(key, value)

    async def adelete(self, key: str) -> None:
        self._single().delete(key)

    async def aclear(self) -> None:
        self._single().clear()

    def __repr__(self) -> str:
        parts = [f"name={k!r}" for k in self._by_name] + [f"uri={k!r}" for k in self._by_uri]
        return f"<AssetStateStoreAccessors [{', '.join(parts)}]>"


# -- the context ---------------------------------------------------------------------------------
def has_assets(objs: Sequence[Any]) -> bool:
    for obj in objs:
        try:
            ref_of(obj)
        except TypeError:
            continue
        return True
    return False


def add_asset_context(context: dict[str, Any], raw: Mapping[str, Any], *,
                      inlets: Sequence[Any], outlets: Sequence[Any],
                      requester: Requester | None) -> None:
    """Put the asset keys of Airflow 3.3's context into ``context`` (runner and agent alike).

    ``raw`` is the run's context JSON (``triggering_asset_events``, ``partition_key``,
    ``partition_date``); ``inlets``/``outlets`` are the task's asset objects (or their
    dag.json references)."""
    partition_key = raw.get("partition_key")
    partition_date = parse_datetime(raw.get("partition_date"))
    context["inlets"] = list(inlets)
    context["outlets"] = list(outlets)
    context["outlet_events"] = OutletEventAccessors(outlets)
    context["inlet_events"] = InletEventsAccessors(inlets, requester)
    context["triggering_asset_events"] = TriggeringAssetEventsAccessor(
        raw.get("triggering_asset_events") or ())
    context["partition_key"] = partition_key
    context["partition_date"] = partition_date
    dag_run = context.get("dag_run")
    if dag_run is not None:
        dag_run.partition_key = partition_key
        dag_run.partition_date = partition_date
        dag_run.consumed_asset_events = _consumed(raw)
    if requester is not None and has_assets([*inlets, *outlets]):
        context["asset_state_store"] = AssetStateStoreAccessors(inlets, outlets, requester)


def _consumed(raw: Mapping[str, Any]) -> list[AssetEvent]:
    return [AssetEvent({"asset": group.get("asset"), **event})
            for group in raw.get("triggering_asset_events") or ()
            for event in group.get("events") or ()]


def _asset_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def add_task_asset_context(context: dict[str, Any], raw: Mapping[str, Any], task: Any,
                           requester: Requester | None) -> None:
    """``add_asset_context`` for a task object of the DAG file (its ``inlets``/``outlets``)."""
    add_asset_context(context, raw, inlets=_asset_list(getattr(task, "inlets", None)),
                      outlets=_asset_list(getattr(task, "outlets", None)), requester=requester)


def asset_function_kwargs(task: Any, context: Mapping[str, Any],
                          raw: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of an ``@asset`` function (``task.asset_call_kwargs``): ``self`` and
    each upstream parameter are the assets of those names as the control plane knows them
    (the context's ``task_assets``), as Airflow fetches them by name."""
    known = {str(a.get("name")): a for a in raw.get("task_assets") or ()}

    def fetch(name: str) -> Any:
        found = known.get(name)
        if found is None:
            raise LookupError(f"asset {name!r} not found: the control plane knows no asset "
                              "of that name (an @asset function's parameter names an "
                              "upstream asset)")
        from leoflow.sdk.assets import Asset  # the authoring class, only for @asset tasks

        return Asset(name=str(found["name"]), uri=str(found["uri"]),
                     group=str(found.get("group") or "asset"),
                     extra=dict(found.get("extra") or {}))

    return dict(task.asset_call_kwargs(context, fetch))
