"""Turn a task's encoded inputs (dag.json) into the concrete JSON values of one try.

The control plane resolves inputs before a try starts, so the user's process receives plain
values and never talks to a backend. The rules follow Airflow:

* ``{"literal": v}`` is ``v``;
* ``{"xcom": {"task_id", "key"}}`` is the upstream's value, or ``None`` when it pushed none;
  a reference to a *mapped* task is the list of its results ordered by map index (only the
  instances that pushed a value, as Airflow's lazy sequence);
* ``{"list": [...]}`` / ``{"dict": {...}}`` resolve item by item, in declaration order, with
  ``None`` in the slot of an upstream that produced no value (fan-in);
* ``{"param": {"name"}}`` is the run's value of that param;
* a mapped task's try also gets its slice of the expansion, merged over the partial kwargs:
  ``.expand(a=…, b=…)`` maps over the cross product with the *first* argument varying slowest
  (map index ``i`` ↔ ``i = index_a * len(b) + index_b``), a dict maps to its ``[key, value]``
  pairs; ``.expand_kwargs(list_of_dicts)`` gives instance ``i`` the ``i``-th dict.

How values are read is the caller's business: ``fetch(task_id, key)`` is any async callable
(``make_fetch`` builds one over an ``XComBackend``), so resolution is backend-agnostic.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from leoflow.engine.spec.derived import (
    DERIVED_TAGS,
    DerivedValueError,
    concat_items,
    map_items,
    zip_items,
)
from leoflow.engine.spec.model import Expansion, TaskSpec
from leoflow.engine.xcom.base import RETURN_VALUE, XComBackend, mapped_list
from leoflow.engine.xcom.errors import InputResolutionError

Fetch = Callable[[str, str], Awaitable[Any]]
"""``(task_id, key) -> value``: the value, the ordered results of a mapped task, or None."""

_TAGS = ("literal", "xcom", "param", "list", "dict", "map", "zip", "concat", "mapped_arg")


def make_fetch(backend: XComBackend, dag_run_id: int, *, mapped: Collection[str] = (),
               conn: Any = None) -> Fetch:
    """A ``fetch`` over any backend; ``mapped`` names the DAG's mapped tasks (their
    references resolve to the list of results instead of one value)."""
    mapped = frozenset(mapped)

    async def fetch(task_id: str, key: str) -> Any:
        if task_id in mapped:
            return mapped_list(await backend.get_mapped(dag_run_id, task_id, key, conn=conn))
        found = await backend.get(dag_run_id, task_id, key, conn=conn)
        return None if found is None else found.value

    return fetch


async def resolve_inputs(task: TaskSpec, map_index: int, *, fetch: Fetch,
                         params: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` of one try of ``task`` (``map_index`` -1 when it is not mapped).

    Raises ``InputResolutionError`` naming the argument when an input cannot be resolved (a
    missing param, a mapped value that is not a list, a map index past the expansion).
    """
    resolver = _Resolver(task, fetch, params, map_index)
    inputs = task.inputs or {}
    args = [await resolver.value(v, f"args[{i}]") for i, v in enumerate(inputs.get("args") or ())]
    kwargs = {name: await resolver.value(v, name)
              for name, v in (inputs.get("kwargs") or {}).items()}
    if task.expand is not None:
        if map_index < 0:
            raise InputResolutionError(task.task_id, "expand", "a mapped task's inputs are "
                                       "resolved per instance; give its map index")
        if task.expand.group is None:  # a mapped group's tasks read it via mapped_arg
            kwargs.update(await resolver.expansion(task.expand, map_index))
    return args, kwargs


class _Resolver:
    """One resolution: reads each referenced XCom once."""

    def __init__(self, task: TaskSpec, fetch: Fetch, params: Mapping[str, Any],
                 map_index: int = -1) -> None:
        self.task = task
        self.map_index = map_index
        self.fetch = fetch
        self.params = params
        self._cache: dict[tuple[str, str], Any] = {}

    def _error(self, where: str, reason: str) -> InputResolutionError:
        return InputResolutionError(self.task.task_id, where, reason)

    async def _xcom(self, task_id: str, key: str) -> Any:
        if (task_id, key) not in self._cache:
            self._cache[(task_id, key)] = await self.fetch(task_id, key)
        return self._cache[(task_id, key)]

    async def value(self, encoded: Any, where: str) -> Any:
        if not isinstance(encoded, Mapping) or len(encoded) != 1:
            # Not tagged: a plain JSON value (tolerated for hand-written specs).
            return copy.deepcopy(encoded)
        ((tag, body),) = encoded.items()
        if tag == "literal":
            # A copy: the spec is shared by every try and must not change under a caller.
            return copy.deepcopy(body)
        if tag == "xcom":
            found = await self._xcom(body["task_id"], body.get("key") or RETURN_VALUE)
            if body.get("same_map_index"):  # a task of the same mapped group: this instance
                return _at(found, self.map_index)
            return found
        if tag in DERIVED_TAGS or tag == "mapped_arg":
            return await self._mapping_value(tag, body, where)
        if tag == "param":
            name = body["name"]
            if name not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise self._error(where, f"the run has no param {name!r} (params: {known})")
            return copy.deepcopy(self.params[name])
        if tag == "list":
            return [await self.value(item, f"{where}[{i}]") for i, item in enumerate(body)]
        if tag == "dict":
            return {k: await self.value(v, f"{where}[{k!r}]") for k, v in body.items()}
        raise self._error(where, f"unknown input encoding {tag!r} (expected one of "
                                 f"{', '.join(_TAGS)})")

    async def _mapping_value(self, tag: str, body: Mapping[str, Any], where: str) -> Any:
        """``map``/``zip``/``concat`` (``leoflow.engine.spec.derived``) and a mapped task
        group's argument at this instance."""
        try:
            if tag == "map":
                return map_items(await self.value(body["arg"], where), body.get("fns") or ())
            sources = [await self.value(a, f"{where}[{i}]")
                       for i, a in enumerate(body.get("args") or ())]
            if tag == "zip":
                return zip_items(sources, bool(body.get("longest")), body.get("fillvalue"))
            if tag == "concat":
                return concat_items(sources)
        except DerivedValueError as exc:
            raise self._error(where, str(exc)) from None
        expand = self.task.expand
        if expand is None or expand.group is None or self.map_index < 0:
            raise self._error(where, f"reads argument {body['name']!r} of a mapped task "
                                     "group, but the task is not an instance of one")
        values = await self.expansion(expand, self.map_index)
        if body["name"] not in values:
            raise self._error(where, f"the mapped task group gives no {body['name']!r} "
                                     f"(it gives: {', '.join(sorted(values)) or 'nothing'})")
        return values[body["name"]]

    async def expansion(self, expand: Expansion, map_index: int) -> dict[str, Any]:
        if expand.mode == "list_of_kwargs":
            return await self._kwargs_item(expand, map_index)
        names = list(expand.names)
        resolved = {name: await self.value(expand.values[name], name) for name in names}
        for name, value in resolved.items():
            if not isinstance(value, (list, dict)):
                raise self._error(name, "can only map over a list or a dict, got "
                                        f"{type(value).__name__}")
            if not value:
                raise self._error(name, "maps over an empty value, so the task has no "
                                        "instances to resolve")
        # Airflow's DictOfListsExpandInput: the last argument varies fastest.
        position: dict[str, int] = {}
        rest = map_index
        for name in reversed(names):
            size = len(resolved[name])
            position[name] = rest % size
            rest //= size
        if rest:
            total = 1
            for value in resolved.values():
                total *= len(value)
            raise self._error(", ".join(names), f"map index {map_index} is past the "
                                                f"{total} instances of the expansion")
        return {name: _item(resolved[name], position[name]) for name in names}

    async def _kwargs_item(self, expand: Expansion, map_index: int) -> dict[str, Any]:
        where = "expand_kwargs"
        items = await self.value(expand.values.get("kwargs"), where)
        if not isinstance(items, list):
            raise self._error(where, f"expects a list of dicts, got {type(items).__name__}")
        if map_index >= len(items):
            raise self._error(where, f"map index {map_index} is past the {len(items)} "
                                     "instances of the expansion")
        item = items[map_index]
        if not isinstance(item, dict) or not all(isinstance(k, str) for k in item):
            raise self._error(f"{where}[{map_index}]", "expects a dict with string keys, got "
                                                       f"{type(item).__name__}")
        return item


def _at(values: Any, index: int) -> Any:
    """One instance's value in a mapped task's list of results (None when it has none)."""
    if isinstance(values, list) and 0 <= index < len(values):
        return values[index]
    return None


def _item(value: list[Any] | dict[str, Any], index: int) -> Any:
    if isinstance(value, list):
        return value[index]
    key = list(value)[index]
    return [key, value[key]]  # Airflow gives a (key, value) tuple; JSON has lists
