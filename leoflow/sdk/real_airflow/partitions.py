"""Airflow's partition mappers, windows and wait policies as dag.json's partition JSON.

Leoflow's SDK mirrors Airflow's classes (``leoflow.sdk.asset_partitions``: the same class
names and constructor arguments), and its classes write the JSON. A real object is turned
into its Leoflow twin, argument by argument, and the twin writes it; a class Leoflow does
not mirror (a user's own mapper) is refused with its name, as under the shim.
"""

from __future__ import annotations

import inspect
from typing import Any

from leoflow.sdk.errors import DagDefinitionError

_MISSING: Any = object()


def _twin(value: Any) -> Any:
    from leoflow.sdk import asset_partitions

    if isinstance(value, (list, tuple)):
        return type(value)(_twin(v) for v in value)
    module = type(value).__module__ or ""
    if not module.startswith("airflow.") or "partition_mappers" not in module:
        return value
    cls = getattr(asset_partitions, type(value).__name__, None)
    if not isinstance(cls, type):
        raise DagDefinitionError(
            f"partition mapper {type(value).__name__} is not one Leoflow knows (docs/assets.md "
            "lists them): a custom mapper's logic cannot be written into dag.json")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        found = getattr(value, name, _MISSING)
        if found is _MISSING:
            found = getattr(value, "_" + name, _MISSING)
        if found is _MISSING:
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            args.extend(_twin(v) for v in found)
        elif parameter.kind is not parameter.VAR_KEYWORD:
            kwargs[name] = _twin(getattr(found, "value", found)
                                 if name == "direction" else found)
    return cls(*args, **kwargs)


def mapper_json(mapper: Any) -> dict[str, Any]:
    """The JSON of a real partition mapper (as its Leoflow twin writes it)."""
    data: dict[str, Any] = _twin(mapper).to_json()
    return data
