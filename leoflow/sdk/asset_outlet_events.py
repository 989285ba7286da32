"""``outlet_events`` and ``yield Metadata(...)``: what a task records for its outlets.

What a task records stays in the user process until the task ends: the runner puts it in
its final ``result`` message as ``outlet_events`` (a list of ``{"ref", "extra",
"partition_keys", "added"}``; see ``outlet_events_message``), the agent forwards it in
``ReportState`` and the scheduler emits the events in the transaction that records the
success. Standard library only.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from leoflow.sdk.asset_refs import (
    ForAssetLookup,
    Key,
    class_names,
    key_of_ref,
    known_assets,
    ref_of,
)

PARTITION_KEY_MAX_LENGTH = 250  # Airflow's ID_LEN, the width of its partition_key column


def _json_extra(extra: Any, what: str) -> dict[str, Any]:
    if not isinstance(extra, Mapping):
        raise TypeError(f"{what}: extra must be a dict, got {type(extra).__name__}")
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}: extra must be JSON data (it is stored with the asset "
                        f"event): {exc}") from None
    return dict(extra)


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


class OutletEventAccessors(ForAssetLookup, Mapping[Any, OutletEventAccessor]):
    """``outlet_events``: created on first use, as Airflow's lazy mapping."""

    def __init__(self, outlets: Sequence[Any] = ()) -> None:
        self._dict: dict[Key, OutletEventAccessor] = {}
        self._known = known_assets(outlets)

    def __getitem__(self, key: Any) -> OutletEventAccessor:
        ref = ref_of(key)
        hashable = key_of_ref(ref)
        known = self._known.get(hashable)
        if known is not None and "asset_ref" in ref:  # Asset.ref(...) of one of the outlets
            ref, hashable = known, key_of_ref(known)
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
        if "Metadata" in class_names(item) and outlet_events is not None:
            outlet_events[item.asset].extra.update(dict(item.extra or {}))
            alias = getattr(item, "alias", None)
            if alias:
                outlet_events[alias].add(item.asset, extra=item.extra)
        else:
            print(f"WARNING - Ignoring unknown data of {type(item)!r} received from task",
                  flush=True)
