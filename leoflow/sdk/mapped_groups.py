"""Mapped task groups: ``@task_group`` functions called with ``.expand()`` / ``.partial()``.

As in Airflow, ``group.expand(num=[1, 2, 3])`` calls the group function once, with each
mapped parameter standing for "this instance's value" (a ``MappedArgument``), and every task
the function builds becomes a mapped task with the *group's* expansion: all of them have the
same map indexes, and instance ``i`` of a task reads the group's arguments at ``i``. A task
of the group that uses the result of another task of the same group gets that task's value
at the same map index; a task outside the group gets the ordered list of results.

In dag.json each member task carries the group's expansion with ``"group": <group_id>`` (its
values are not merged into the task's arguments), and reads a group argument through the
input tag ``{"mapped_arg": {"name": ...}}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.location import user_frame_location
from leoflow.sdk.xcom_arg import XComArg

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator
    from leoflow.sdk.taskgroup import TaskGroup

GROUP_ATTR = "expand_group"
"""Set on every task of a mapped group: the group id whose expansion the task follows."""


def _error(message: str) -> DagDefinitionError:
    file, line = user_frame_location()
    return DagDefinitionError(message, file=file, line=line)


class MappedArgument(XComArg):
    """A parameter of a mapped task group's function: the value of one group instance.

    It is an ``XComArg`` only so that it travels wherever an upstream result may (task
    arguments, template fields); it adds no dependency of its own, the expansion does.
    """

    def __init__(self, group: TaskGroup, name: str) -> None:
        self.operator = None  # type: ignore[assignment]
        self.key = name
        self.group = group
        self.name = name

    def references(self) -> list[BaseOperator]:
        return []

    @property
    def task_id(self) -> str:
        return f"{self.group.group_id}.{self.name}"

    def __getitem__(self, key: str) -> XComArg:
        raise _error(f"the argument {self.name!r} of mapped task group "
                     f"{self.group.group_id!r} cannot be indexed at definition time; pass it "
                     "to a task and index it there")

    def map(self, fn: Any) -> XComArg:
        raise _error(f"the argument {self.name!r} of mapped task group "
                     f"{self.group.group_id!r} is one value per instance; .map() works on "
                     "the result of a task")

    zip = concat = map  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MappedArgument({self.group.group_id!r}, {self.name!r})"


class GroupPartial:
    """``my_group.partial(a=1)``: the fixed arguments of a mapped task group."""

    def __init__(self, factory: GroupFactory, kwargs: dict[str, Any]) -> None:
        self.factory = factory
        self.kwargs = kwargs

    def expand(self, **mapped: Any) -> Any:
        from leoflow.sdk.baseoperator import check_expandable

        if not mapped:
            raise _error("expand() needs at least one argument to map over")
        for name, value in mapped.items():
            check_expandable(name, value)
        return self.factory.build_mapped("kwargs", dict(mapped), list(mapped), self.kwargs)

    def expand_kwargs(self, value: Any) -> Any:
        from leoflow.sdk.baseoperator import check_expandable

        check_expandable("expand_kwargs", value, items_are_dicts=True)
        names = [n for n in self.factory.parameter_names() if n not in self.kwargs]
        return self.factory.build_mapped("list_of_kwargs", value, names, self.kwargs)


class GroupFactory:
    """What ``@task_group`` gives for mapping: built on the decorated function."""

    def __init__(self, func: Callable[..., Any], group_id: str | None,
                 group_kwargs: dict[str, Any]) -> None:
        self.func = func
        self.group_id = group_id
        self.group_kwargs = group_kwargs

    def parameter_names(self) -> list[str]:
        try:
            params = inspect.signature(self.func).parameters.values()
        except (TypeError, ValueError):
            return []
        return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def build_mapped(self, mode: str, values: Any, names: list[str],
                     fixed: dict[str, Any]) -> Any:
        from leoflow.sdk.taskgroup import TaskGroup

        known = self.parameter_names()
        unknown = [n for n in names if n not in known] if mode == "kwargs" else []
        if unknown:
            raise _error(f"task group {self.func.__name__!r} has no parameter(s) "
                         f"{', '.join(map(repr, unknown))} to map over (it takes: "
                         f"{', '.join(known) or 'none'})")
        gid = self.group_id or self.func.__name__
        options = {"tooltip": self.func.__doc__ or "", **self.group_kwargs}
        group = TaskGroup(gid, dedupe=True, **options)
        arguments = {**fixed, **{n: MappedArgument(group, n) for n in names}}
        with group:
            result = self.func(**arguments)
        for member in group.members:
            _follow_group(member, group, mode, values)
        return group if result is None else result


def _follow_group(op: BaseOperator, group: TaskGroup, mode: str, values: Any) -> None:
    if op.is_mapped:
        raise DagDefinitionError(
            f"task {op.task_id!r} is mapped inside mapped task group {group.group_id!r}; "
            "Leoflow maps a task over one level (the group's) only", file=op.fileloc,
            line=op.line)
    op.set_expansion(mode, values)
    setattr(op, GROUP_ATTR, group.group_id)


def mapped_group_of(op: Any) -> str | None:
    """The id of the mapped task group whose expansion ``op`` follows, if any."""
    return getattr(op, GROUP_ATTR, None)


def attach(build: Callable[..., Any], func: Callable[..., Any], group_id: str | None,
           group_kwargs: dict[str, Any]) -> Callable[..., Any]:
    """Give a ``@task_group`` function ``.expand``, ``.expand_kwargs`` and ``.partial``."""
    factory = GroupFactory(func, group_id, group_kwargs)
    build.partial = lambda **kwargs: GroupPartial(factory, kwargs)  # type: ignore[attr-defined]
    build.expand = lambda **mapped: GroupPartial(factory, {}).expand(**mapped)  # type: ignore[attr-defined]
    build.expand_kwargs = (  # type: ignore[attr-defined]
        lambda value: GroupPartial(factory, {}).expand_kwargs(value))
    return build
