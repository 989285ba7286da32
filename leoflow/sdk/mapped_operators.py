"""``.partial().expand()`` and ``.expand_kwargs()`` on a user's own ``BaseOperator`` subclass.

As in Airflow, every ``__init__`` argument of a user's operator can be mapped. At definition
time the operator is built once without its mapped values (``None`` stands in for them, or,
when its ``__init__`` refuses that, only ``BaseOperator`` is initialized); the real operator
of each mapped instance is built in the task runner, with the partial arguments and this
instance's values, just before ``execute`` (Airflow's "unmapping"). The map functions of
``XComArg.map`` are applied there too, before anything else sees the values.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.xcom_transforms import apply_map_functions, has_map_wrapper, map_functions

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator
    from leoflow.sdk.dag import DAG

PARTIAL_ATTR = "_leoflow_partial_kwargs"
MAPPED_NAMES_ATTR = "_leoflow_mapped_names"
_BASE_NAMES = frozenset({"task_id", "dag", "task_group", "doc", "doc_md"})


def is_user_operator(cls: type) -> bool:
    """A class defined outside Leoflow (a user's operator, or a subclass of one of ours)."""
    return not cls.__module__.startswith("leoflow.")


def init_parameters(cls: type) -> list[str]:
    """Named ``__init__`` parameters of the user's classes in ``cls``'s hierarchy."""
    names: dict[str, None] = {}
    for klass in cls.__mro__:
        if not is_user_operator(klass) or "__init__" not in klass.__dict__:
            continue
        try:
            params = inspect.signature(klass.__dict__["__init__"]).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                names.setdefault(p.name, None)
    return [n for n in names if n not in _BASE_NAMES]


def mappable(cls: type[BaseOperator]) -> tuple[str, ...]:
    if not is_user_operator(cls):
        return tuple(cls.mappable_fields)
    return tuple(dict.fromkeys([*init_parameters(cls), *cls.mappable_fields]))


def build_mapped(cls: type[BaseOperator], partial: dict[str, Any],
                 mapped_names: list[str] | None) -> BaseOperator:
    """The definition-time operator of a mapped user operator (see the module docstring)."""
    from leoflow.sdk.baseoperator import (
        ACCEPTED_AND_IGNORED,
        BASE_DEFAULTS,
        BaseOperator,
        building_mapped,
    )

    placeholders: dict[str, Any] = dict.fromkeys(mapped_names or (n for n in init_parameters(cls)
                                                  if n not in partial))
    undo = _registrations(partial)
    with building_mapped():
        try:
            op = cls(**partial, **placeholders)
        except DagDefinitionError:
            raise
        except Exception:  # its __init__ needs the real values: build the base only
            undo()  # a half-built operator may have registered itself already
            op = cls.__new__(cls)
            base = {k: v for k, v in partial.items()
                    if k in _BASE_NAMES or k in BASE_DEFAULTS or k in ACCEPTED_AND_IGNORED}
            BaseOperator.__init__(op, **base)
            for name, value in partial.items():
                if name not in base:
                    setattr(op, name, value)
    setattr(op, PARTIAL_ATTR, dict(partial))
    setattr(op, MAPPED_NAMES_ATTR, list(mapped_names) if mapped_names is not None else None)
    return op


def _registrations(partial: dict[str, Any]) -> Callable[[], None]:
    """A function that forgets the tasks registered from now on in the DAG and groups."""
    from leoflow.sdk import context

    dag = partial.get("dag") or context.current_dag()
    group = partial.get("task_group") or context.current_group()
    known = set(dag.task_dict) if dag is not None else set()
    groups = []
    while group is not None:
        groups.append((group, len(group.members)))
        group = group.parent

    def undo() -> None:
        if dag is not None:
            for task_id in set(dag.task_dict) - known:
                del dag.task_dict[task_id]
        for each, size in groups:
            del each.members[size:]

    return undo


def check_names(cls: type[BaseOperator], names: list[str], where: dict[str, Any]) -> None:
    allowed = mappable(cls)
    wrong = sorted(set(names) - set(allowed))
    if wrong:
        raise DagDefinitionError(
            f"{cls.__name__} cannot map over {', '.join(wrong)}; mappable: "
            f"{', '.join(allowed) or 'none'}", **where)


def prepare_task(dag: DAG, task: BaseOperator, args: list[Any], kwargs: dict[str, Any]
                 ) -> tuple[BaseOperator, list[Any], dict[str, Any]]:
    """In the task runner: apply ``.map()`` functions, then build a mapped user operator
    with this instance's values. Returns the operator to run and its inputs."""
    if map_functions(dag) and (has_map_wrapper(args) or has_map_wrapper(kwargs)):
        args = apply_map_functions(args, dag)
        kwargs = apply_map_functions(kwargs, dag)
    partial = getattr(task, PARTIAL_ATTR, None)
    if partial is None or not task.is_mapped:
        return task, args, kwargs
    names = getattr(task, MAPPED_NAMES_ATTR, None)
    if names is None:  # expand_kwargs: whatever is not one of the task's own inputs
        names = [k for k in kwargs if k not in task.op_kwargs]
    mapped = {k: kwargs[k] for k in names if k in kwargs}
    scratch = copy.copy(dag)  # the real operator must not register a second time
    scratch.task_dict = {}
    group = task.task_group
    local_id = partial.get("task_id", task.task_id)
    real = type(task)(**{**partial, **mapped, "task_id": local_id, "dag": scratch,
                         "task_group": group})
    real.dag = dag
    rest = {k: v for k, v in kwargs.items() if k not in mapped}
    return real, args, rest
