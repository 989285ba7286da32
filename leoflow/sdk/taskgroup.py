"""Task groups: ``with TaskGroup("extract"):`` and ``@task_group``; ids get the group prefix."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leoflow.sdk import context
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.location import user_frame_location
from leoflow.sdk.relations import DependencyMixin

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator
    from leoflow.sdk.dag import DAG


class TaskGroup(DependencyMixin):
    """A named group of tasks. Tasks inside get ``<group_id>.<task_id>`` ids.

    On the left of ``>>`` a group stands for its leaves (members with no downstream inside
    the group); on the right, for its roots (members with no upstream inside the group).
    """

    def __init__(self, group_id: str, tooltip: str = "", prefix_group_id: bool = True,
                 parent_group: TaskGroup | None = None, dag: DAG | None = None,
                 default_args: dict[str, Any] | None = None, *, dedupe: bool = False,
                 **_ignored: Any) -> None:
        from leoflow.sdk.dag import check_id

        self.group_id_local = check_id("group_id", group_id)
        self.tooltip = tooltip
        self.prefix_group_id = prefix_group_id
        self.parent = parent_group or context.current_group()
        self.dag = dag or context.current_dag()
        self.default_args = dict(default_args or {})
        if self.dag is None:
            file, line = user_frame_location()
            raise DagDefinitionError(
                f"TaskGroup {group_id!r} is created outside a DAG; create it inside "
                "'with DAG(...)' or a @dag function", file=file, line=line)
        self.members: list[BaseOperator] = []
        taken = self.dag.group_ids
        if self.group_id in taken:
            if not dedupe:
                file, line = user_frame_location()
                raise DagDefinitionError(
                    f"group_id {self.group_id!r} is used twice in DAG {self.dag.dag_id!r}",
                    file=file, line=line)
            n = 1
            while f"{self.group_id}__{n}" in taken:
                n += 1
            self.group_id_local = f"{self.group_id_local}__{n}"
        taken.add(self.group_id)

    @property
    def group_id(self) -> str:
        if self.parent is not None and self.parent.group_id:
            return f"{self.parent.group_id}.{self.group_id_local}"
        return self.group_id_local

    def child_id(self, task_id: str) -> str:
        """The full id of a task created inside this group."""
        if not self.prefix_group_id:
            return self.parent.child_id(task_id) if self.parent else task_id
        return f"{self.group_id}.{task_id}"

    def add(self, task: BaseOperator) -> None:
        self.members.append(task)
        if self.parent is not None:
            self.parent.add(task)

    def inherited_default_args(self) -> dict[str, Any]:
        base = self.parent.inherited_default_args() if self.parent else {}
        return {**base, **self.default_args}

    def __enter__(self) -> TaskGroup:
        context.push_group(self)
        return self

    def __exit__(self, *exc: object) -> None:
        context.pop_group()

    def endpoints(self) -> list[BaseOperator]:
        return self.members

    def upstream_endpoints(self) -> list[BaseOperator]:
        inside = {id(t) for t in self.members}
        return [t for t in self.members
                if not any(id(d) in inside for d in t.downstream_tasks())]

    def downstream_endpoints(self) -> list[BaseOperator]:
        inside = {id(t) for t in self.members}
        return [t for t in self.members if not any(id(u) in inside for u in t.upstream_tasks())]

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


def task_group(group_id: str | Callable[..., Any] | None = None, **group_kwargs: Any) -> Any:
    """Decorator form: calling the function builds its tasks inside a new group.

    The call returns what the function returns (typically the last task's result), so the
    group composes like a task: ``load(my_group(extract()))``.
    """

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def build(*args: Any, **kwargs: Any) -> Any:
            gid = group_id if isinstance(group_id, str) else func.__name__
            options = {"tooltip": func.__doc__ or "", **group_kwargs}
            group = TaskGroup(gid, dedupe=True, **options)
            with group:
                result = func(*args, **kwargs)
            return group if result is None else result

        from leoflow.sdk.mapped_groups import attach

        return attach(build, func, group_id if isinstance(group_id, str) else None,
                      group_kwargs)

    if callable(group_id):
        func, group_id = group_id, None
        return wrap(func)
    return wrap
