"""Real Airflow values as dag.json's tagged values (``leoflow.engine.spec.model``).

The same tags as the shim path: ``literal``, ``xcom`` (an upstream result),
``param``, ``list``/``dict`` holding references, ``map``/``zip``/``concat`` and
``mapped_arg``. Under the ``airflow`` runtime the real task runner resolves a task's
arguments from the DAG file itself, so the spec's inputs describe them (for the graph, the
dependency checks and the UI) and are not handed to the task: a value JSON cannot hold (a
datetime, an object) is written as its ``repr`` instead of refusing the file, which Airflow
accepts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any


def encode(value: Any, same_group: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """A tagged value; ``same_group(task)`` says whether an upstream task follows the same
    mapped task group as the task being described (its result is then read at the task's
    own map index: ``same_map_index``)."""
    from airflow.sdk.definitions._internal.expandinput import MappedArgument
    from airflow.sdk.definitions.param import DagParam
    from airflow.sdk.definitions.xcom_arg import (
        ConcatXComArg,
        MapXComArg,
        PlainXComArg,
        ZipXComArg,
    )

    if isinstance(value, PlainXComArg):
        ref: dict[str, Any] = {"task_id": value.operator.task_id, "key": value.key}
        if same_group is not None and same_group(value.operator):
            ref["same_map_index"] = True
        return {"xcom": ref}
    if isinstance(value, MapXComArg):
        names = [getattr(f, "__qualname__", repr(f)) for f in value.callables]
        return {"map": {"arg": encode(value.arg, same_group),
                        "fns": list(range(len(names))), "names": names}}
    if isinstance(value, ZipXComArg):
        from airflow.sdk.definitions._internal.types import is_arg_set

        body: dict[str, Any] = {"args": [encode(a, same_group) for a in value.args],
                                "longest": is_arg_set(value.fillvalue)}
        if body["longest"]:
            body["fillvalue"] = literal(value.fillvalue)
        return {"zip": body}
    if isinstance(value, ConcatXComArg):
        return {"concat": {"args": [encode(a, same_group) for a in value.args]}}
    if isinstance(value, MappedArgument):
        return {"mapped_arg": {"name": value._key}}
    if isinstance(value, DagParam):
        return {"param": {"name": value._name}}
    if isinstance(value, (list, tuple)):
        items = [encode(v, same_group) for v in value]
        if all("literal" in item for item in items):
            return {"literal": [item["literal"] for item in items]}
        return {"list": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        encoded = {k: encode(v, same_group) for k, v in value.items()}
        if all("literal" in item for item in encoded.values()):
            return {"literal": {k: item["literal"] for k, item in encoded.items()}}
        return {"dict": encoded}
    return {"literal": literal(value)}


def literal(value: Any) -> Any:
    """A JSON value: JSON's own types as they are, anything else as its ``repr``."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, timedelta):  # as the shim writes durations: seconds
        return value.total_seconds()
    if isinstance(value, (datetime, date)):
        return iso(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [literal(v) for v in items]
    if isinstance(value, dict):
        return {str(k) if isinstance(k, (str, int, float, bool)) or k is None else repr(k):
                literal(v) for k, v in value.items()}
    return repr(value)


def seconds(value: Any) -> float | None:
    """A duration in seconds (timedelta or number), None for None."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def iso(value: Any) -> str | None:
    """An aware datetime as ISO text (naive ones taken as UTC, dates at midnight UTC)."""
    from datetime import timezone

    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).isoformat()
    return None


def display(value: Any) -> Any:
    """default_args as the shim shows them: seconds, ISO text, JSON scalars, else repr."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (datetime, date)):
        return iso(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
