"""``inlet_events`` and ``triggering_asset_events``: the asset events a running task reads.

An inlet's past events are a request over the channel (``asset_events``): the agent asks
the control plane with the try's own token, so only assets of the DAG's own tenant are
reachable, and the answer is fetched on first use. The events that created the run come
with the run's context and need no request. Standard library only.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from leoflow.sdk.asset_refs import (
    AssetEvent,
    AssetInfo,
    ForAssetLookup,
    Key,
    Requester,
    key_of_ref,
    ref_of,
)

OP_ASSET_EVENTS = "asset_events"  # channel request (leoflow.sdk.channel's protocol)


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


class InletEventsAccessors(ForAssetLookup, Mapping[Any, InletEventsAccessor]):
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
            self._refs[key_of_ref(ref)] = ref
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
        found = self._refs.get(key_of_ref(ref))
        if found is None:
            raise KeyError(obj)
        if "asset" in ref and "asset" in found and found["asset"]["uri"] != ref["asset"]["uri"]:
            raise KeyError(obj)  # same name, another URI: not this inlet (Airflow's key)
        return InletEventsAccessor(found, self._requester)

    def __repr__(self) -> str:
        return f"InletEventsAccessors({self._inlets!r})"


# -- triggering_asset_events --------------------------------------------------------------------
class TriggeringAssetEventsAccessor(ForAssetLookup, Mapping[Any, list[AssetEvent]]):
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
        hashable = key_of_ref(ref_of(key))
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
