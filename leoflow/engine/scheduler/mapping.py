"""Dynamic task mapping: how many task instances a mapped task expands into.

A mapped task (``.expand(x=…)`` / ``.expand_kwargs(…)``) exists as one placeholder task
instance (``map_index = -1``) until the values it maps over are known; then it expands into
``n`` instances ``0 … n-1``, or is skipped when ``n`` is 0, as Airflow's
``TaskMap.expand_mapped_task`` does. ``.expand`` over several arguments maps over their cross
product; ``.expand_kwargs`` over one list of keyword dicts.

The length of a literal is known from the spec alone. The length of an upstream's result is
not: the caller (the scheduler loop, which can read XComs) answers through a callback. Only
the *length* is needed to schedule; the values are resolved later, by the agent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from leoflow.engine.spec.derived import DERIVED_TAGS, derived_length
from leoflow.engine.spec.model import Expansion, TaskSpec, XComRef, iter_xcom_refs
from leoflow.errors import LeoflowError

XComLength = Callable[[XComRef], "int | None"]
"""Length of an upstream result (list or dict), or None while it is not known."""

ParamValue = Callable[[str], Any]
"""The run's value of a DAG param, for expansions over ``{"param": …}`` inputs."""


class UnmappableValue(LeoflowError):
    """A mapped task maps over something that is neither a list nor a dict."""

    def __init__(self, task_id: str | None, argument: str, value: Any) -> None:
        self.task_id = task_id
        self.argument = argument
        self.value = value
        where = f"task {task_id!r} " if task_id else ""
        super().__init__(f"{where}argument {argument!r}: can only map over a list or a dict, "
                         f"got {type(value).__name__}")


def mapping_dependencies(task: TaskSpec) -> tuple[str, ...]:
    """Upstream task ids whose results a mapped task expands over (empty when unmapped)."""
    if task.expand is None:
        return ()
    seen: dict[str, None] = {}
    for value in task.expand.values.values():
        for ref in iter_xcom_refs(value):
            seen.setdefault(ref.task_id, None)
    return tuple(seen)


def expansion_length(expand: Expansion, *, xcom_length: XComLength | None = None,
                     param_value: ParamValue | None = None,
                     task_id: str | None = None) -> int | None:
    """How many task instances ``expand`` produces, or None while an input is unknown.

    ``kwargs`` mode multiplies the lengths of its arguments (the cross product);
    ``list_of_kwargs`` mode takes the length of its one list.
    """
    lengths = [
        _length(value, name, xcom_length, param_value, task_id)
        for name, value in expand.values.items()
    ]
    if any(n is None for n in lengths):
        return None
    total = 1
    for n in lengths:
        total *= n  # type: ignore[operator]
    return total


def literal_expansion_length(task: TaskSpec) -> int | None:
    """The expansion length when it depends on literals only; None otherwise (or unmapped)."""
    if task.expand is None or mapping_dependencies(task):
        return None
    if any(_tag(v) == "param" for v in task.expand.values.values()):
        return None
    return expansion_length(task.expand, task_id=task.task_id)


def _tag(encoded: Any) -> str | None:
    if isinstance(encoded, Mapping) and len(encoded) == 1:
        tag = next(iter(encoded))  # {"xcom": ...}, {"param": ...}: a JSON key, so a str
        return tag if isinstance(tag, str) else None
    return None


def _length(encoded: Any, name: str, xcom_length: XComLength | None,
            param_value: ParamValue | None, task_id: str | None) -> int | None:
    tag = _tag(encoded)
    if tag is None:
        # Not tagged: a plain JSON value (tolerated for hand-written specs).
        return _sized(encoded, name, task_id)
    body = encoded[tag]
    if tag == "literal":
        return _sized(body, name, task_id)
    if tag == "list":
        return len(body)
    if tag == "dict":
        return len(body)
    if tag == "xcom":
        if xcom_length is None:
            return None
        ref = XComRef(task_id=body["task_id"], key=body.get("key", "return_value"))
        return xcom_length(ref)
    if tag == "param":
        if param_value is None:
            return None
        return _sized(param_value(body["name"]), name, task_id)
    if tag in DERIVED_TAGS:  # XComArg.map / zip / concat: from their sources' lengths
        return derived_length(tag, body, lambda inner: _length(
            inner, name, xcom_length, param_value, task_id))
    raise UnmappableValue(task_id, name, encoded)


def _sized(value: Any, name: str, task_id: str | None) -> int:
    if isinstance(value, (list, tuple, dict)):
        return len(value)
    raise UnmappableValue(task_id, name, value)
