"""dag.json encodings of the mapping constructs (see ``leoflow.engine.spec.model``).

* ``{"map": {"arg": <value>, "fns": [k, ...], "names": [qualname, ...]}}``: ``.map(fn)``;
* ``{"zip": {"args": [<value>, ...], "longest": bool, "fillvalue": <json>}}``: ``.zip()``;
* ``{"concat": {"args": [<value>, ...]}}``: ``.concat()``;
* ``{"mapped_arg": {"name": n}}``: an argument of the mapped task group the task belongs to;
* ``{"xcom": {..., "same_map_index": true}}``: the result of a task of the same mapped task
  group, at this instance's map index (not the list of all of them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.mapped_groups import MappedArgument, mapped_group_of
from leoflow.sdk.xcom_arg import XComArg
from leoflow.sdk.xcom_transforms import ConcatXComArg, MapXComArg, ZipXComArg

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator

Encode = Callable[[Any, str, "BaseOperator"], dict[str, Any]]

# Operators whose inputs reach a Python process of the user (where map functions run).
_PYTHON_KINDS = frozenset({"python", "branch", "short_circuit", "sensor"})


def encode_derived(value: XComArg, where: str, op: BaseOperator, encode: Encode,
                   encode_literal: Callable[..., Any]) -> dict[str, Any] | None:
    """The encoding of a mapping construct, or None for a plain upstream result."""
    if isinstance(value, MappedArgument):
        if mapped_group_of(op) != value.group.group_id:
            raise DagDefinitionError(
                f"{where}: uses argument {value.name!r} of mapped task group "
                f"{value.group.group_id!r} outside that group", file=op.fileloc, line=op.line)
        return {"mapped_arg": {"name": value.name}}
    if isinstance(value, MapXComArg):
        if op.operator_kind not in _PYTHON_KINDS:
            raise DagDefinitionError(
                f"{where}: a .map() function runs in the task's Python process, and a "
                f"{op.operator_kind!r} task has none; map with a @task instead",
                file=op.fileloc, line=op.line)
        return {"map": {"arg": encode(value.source, f"{where}.map", op),
                        "fns": [number for number, _ in value.functions],
                        "names": [name for _, name in value.functions]}}
    if isinstance(value, ZipXComArg):
        body: dict[str, Any] = {
            "args": [encode(a, f"{where}.zip[{i}]", op) for i, a in enumerate(value.args)],
            "longest": value.longest}
        if value.longest:
            body["fillvalue"] = encode_literal(value.fillvalue, f"{where} fillvalue", op)
        return {"zip": body}
    if isinstance(value, ConcatXComArg):
        return {"concat": {"args": [encode(a, f"{where}.concat[{i}]", op)
                                    for i, a in enumerate(value.args)]}}
    return None


def same_map_index(value: XComArg, op: BaseOperator) -> bool:
    """Whether ``op`` reads ``value`` at its own map index: both follow one mapped group."""
    group = mapped_group_of(op)
    return group is not None and mapped_group_of(value.operator) == group
