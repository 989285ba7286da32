"""Values derived from upstream results: ``XComArg.map``, ``.zip`` and ``.concat``.

The control plane never runs a map function (it is user code): a ``map`` value resolves to
its source's items, each wrapped as ``{"__leoflow_map__": {"fns": [...], "value": item}}``;
the task runner applies the functions in the user's process (``leoflow.sdk.xcom_transforms``).
``zip`` and ``concat`` are plain data and resolve here. A dict source counts as its
``[key, value]`` pairs, as a dict does when a task maps over it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MAP_MARKER = "__leoflow_map__"
DERIVED_TAGS = ("map", "zip", "concat")


class DerivedValueError(ValueError):
    """A source of ``map``/``zip``/``concat`` is not a list or a dict."""


def items_of(value: Any, what: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [[k, v] for k, v in value.items()]
    raise DerivedValueError(f"{what} expects a list or a dict, got {type(value).__name__}")


def map_items(source: Any, fns: Sequence[int]) -> list[Any]:
    return [{MAP_MARKER: {"fns": list(fns), "value": item}}
            for item in items_of(source, "XComArg.map()")]


def zip_items(sources: Sequence[Any], longest: bool, fillvalue: Any) -> list[Any]:
    lists = [items_of(s, "XComArg.zip()") for s in sources]
    if longest:
        return [list(t) for t in itertools.zip_longest(*lists, fillvalue=fillvalue)]
    return [list(t) for t in zip(*lists, strict=False)]


def concat_items(sources: Sequence[Any]) -> list[Any]:
    return [item for s in sources for item in items_of(s, "XComArg.concat()")]


def derived_length(tag: str, body: Mapping[str, Any],
                   length_of: Callable[[Any], int | None]) -> int | None:
    """The number of items of a derived value, from its sources' lengths (None: unknown)."""
    if tag == "map":
        return length_of(body["arg"])
    lengths = [length_of(arg) for arg in body["args"]]
    if any(n is None for n in lengths):
        return None
    known = [n for n in lengths if n is not None]
    if tag == "concat":
        return sum(known)
    if not known:
        return 0
    return max(known) if body.get("longest") else min(known)
