"""Setup and teardown tasks, as Airflow 3 writes them.

A *setup* task creates something the work needs (a cluster, a table); its *teardown* removes
it, and must run even when the work between them failed. Authoring follows Airflow:

* ``op.as_setup()``; ``op.as_teardown(setups=..., on_failure_fail_dagrun=...)`` (on a task
  or on a task's result), which marks the setups and makes each one upstream of the teardown;
* ``@setup`` and ``@teardown`` (``@teardown(on_failure_fail_dagrun=True)``) on a function or
  on an already decorated task;
* ``with setup_task >> teardown_task:`` (or ``with teardown_task:``, ``with setup_task:``):
  the work tasks created in the block are put between them: the setups upstream of the
  block's roots, the teardowns downstream of its leaves. Blocks nest: the outer setups go
  before the inner ones and the inner teardowns before the outer ones.

A teardown gets the trigger rule ``all_done_setup_success``. What the marks mean at run time
(the teardown runs when the work failed, its failure does not fail the run unless
``on_failure_fail_dagrun``, clearing a task clears its setups and teardowns) is decided by
the scheduler from dag.json's ``is_setup``, ``is_teardown`` and ``on_failure_fail_dagrun``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.location import user_frame_location

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator

TEARDOWN_TRIGGER_RULE = "all_done_setup_success"


def _fail(message: str) -> DagDefinitionError:
    file, line = user_frame_location()
    return DagDefinitionError(message, file=file, line=line)


def operator_of(value: Any) -> BaseOperator:
    """The task behind ``value``: a task itself, or the task whose result ``value`` is."""
    from leoflow.sdk.baseoperator import BaseOperator
    from leoflow.sdk.xcom_arg import XComArg

    if isinstance(value, XComArg):
        return value.operator
    if isinstance(value, BaseOperator):
        return value
    raise _fail(f"{value!r} is not a task nor a task's result; only tasks can be setup or "
                "teardown tasks (task groups cannot)")


def mark_setup(op: BaseOperator) -> None:
    if op._is_teardown:
        raise _fail(f"task {op.task_id!r} is already a teardown; it cannot also be a setup")
    op._is_setup = True


def mark_teardown(op: BaseOperator, on_failure_fail_dagrun: bool | None = None) -> None:
    if op._is_setup:
        raise _fail(f"task {op.task_id!r} is already a setup; it cannot also be a teardown")
    op._is_teardown = True
    op.trigger_rule = TEARDOWN_TRIGGER_RULE
    if on_failure_fail_dagrun is not None:
        op._on_failure_fail_dagrun = bool(on_failure_fail_dagrun)


class SetupTeardownMixin:
    """``as_setup``, ``as_teardown``, the marks and the ``with`` form, for tasks and results.

    On a task's result (an ``XComArg``) every method acts on the task and returns the result,
    so ``outer_teardown(outer_setup())`` can open a ``with`` block, as in Airflow.
    """

    _is_setup: bool = False
    _is_teardown: bool = False
    _on_failure_fail_dagrun: bool = False

    @property
    def is_setup(self) -> bool:
        return operator_of(self)._is_setup

    @is_setup.setter
    def is_setup(self, value: bool) -> None:
        op = operator_of(self)
        if value:
            mark_setup(op)
        else:
            op._is_setup = False

    @property
    def is_teardown(self) -> bool:
        return operator_of(self)._is_teardown

    @is_teardown.setter
    def is_teardown(self, value: bool) -> None:
        op = operator_of(self)
        if value:
            mark_teardown(op)
        else:
            op._is_teardown = False

    @property
    def on_failure_fail_dagrun(self) -> bool:
        return operator_of(self)._on_failure_fail_dagrun

    @on_failure_fail_dagrun.setter
    def on_failure_fail_dagrun(self, value: bool) -> None:
        op = operator_of(self)
        if value and not op._is_teardown:
            raise _fail(f"task {op.task_id!r}: on_failure_fail_dagrun is for teardown tasks; "
                        "mark it with as_teardown() or @teardown first")
        op._on_failure_fail_dagrun = bool(value)

    def as_setup(self) -> Any:
        """Mark this task as a setup task; returns it, for chaining."""
        mark_setup(operator_of(self))
        return self

    def as_teardown(self, *, setups: Any = None,
                    on_failure_fail_dagrun: bool | None = None) -> Any:
        """Mark this task as a teardown of ``setups`` (a task, a result or a list of them).

        Each setup is marked and put upstream of this task. ``on_failure_fail_dagrun=True``
        lets this teardown's failure fail the run (by default it does not).
        """
        op = operator_of(self)
        mark_teardown(op, on_failure_fail_dagrun)
        if setups is not None:
            items = setups if isinstance(setups, (list, tuple, set)) else [setups]
            for item in items:
                setup_op = operator_of(item)
                mark_setup(setup_op)
                op.add_upstream_task(setup_op)
        return self

    def __enter__(self) -> Any:
        op = operator_of(self)
        if op._is_teardown:
            frame = _Frame(teardowns=[op], setups=_nearest(op, upstream=True))
        elif op._is_setup:
            frame = _Frame(setups=[op], teardowns=_nearest(op, upstream=False))
        else:
            raise _fail(f"task {op.task_id!r} is used as a context manager ('with'), which "
                        "only setup and teardown tasks can be; mark it with as_setup() or "
                        "as_teardown() first")
        _frames.append(frame)
        return self

    def __exit__(self, *exc: object) -> None:
        frame = _frames.pop()
        if exc[0] is not None:
            return
        frame.close()
        if _frames:
            outer = _frames[-1]
            for outer_setup in outer.setups:
                for inner in frame.setups:
                    inner.add_upstream_task(outer_setup)
            for outer_teardown in outer.teardowns:
                for inner in frame.teardowns:
                    outer_teardown.add_upstream_task(inner)


@dataclass
class _Frame:
    """One open ``with`` block: its setups and teardowns and the tasks created inside."""

    setups: list[BaseOperator] = field(default_factory=list)
    teardowns: list[BaseOperator] = field(default_factory=list)
    created: list[BaseOperator] = field(default_factory=list)

    def close(self) -> None:
        """Put the block's work between its setups and teardowns, as Airflow does: the
        setups before every work task with no upstream at all, the teardowns after every
        work task with no downstream at all (the first and the last created when none)."""
        work = [t for t in self.created if not t._is_setup and not t._is_teardown]
        if not work:
            return
        roots = [t for t in work if not t.upstream_tasks()] or [work[0]]
        leaves = [t for t in work if not t.downstream_tasks()] or [work[-1]]
        for setup_op in self.setups:
            for root in roots:
                root.add_upstream_task(setup_op)
        for teardown_op in self.teardowns:
            for leaf in leaves:
                teardown_op.add_upstream_task(leaf)


_frames: list[_Frame] = []


def register_task(op: BaseOperator) -> None:
    """Called by every new task: inside a ``with setup/teardown`` block it is work there."""
    if _frames:
        _frames[-1].created.append(op)


def _nearest(op: BaseOperator, *, upstream: bool) -> list[BaseOperator]:
    """The setups upstream of a teardown (or the teardowns downstream of a setup): the
    direct ones, else the nearest level of relatives that has some."""
    want = "_is_setup" if upstream else "_is_teardown"
    seen = {id(op)}
    level = op.upstream_tasks() if upstream else op.downstream_tasks()
    while level:
        found = [t for t in level if getattr(t, want)]
        if found:
            return found
        nxt = []
        for t in level:
            if id(t) in seen:
                continue
            seen.add(id(t))
            nxt.extend(t.upstream_tasks() if upstream else t.downstream_tasks())
        level = nxt
    return []


# -- @setup and @teardown ------------------------------------------------------------------


class SetupTeardownDecorator:
    """A TaskFlow task factory whose tasks are setups (or teardowns).

    Wraps the ``@task`` factory: every call creates the task as ``@task`` would and marks it.
    """

    def __init__(self, inner: Any, *, role: str, on_failure_fail_dagrun: bool = False) -> None:
        self.inner = inner
        self.role = role
        self.on_failure_fail_dagrun = on_failure_fail_dagrun
        if role == "teardown" and "trigger_rule" in getattr(inner, "kwargs", {}):
            raise _fail(f"teardown task {inner.function.__name__!r}: the trigger rule of a "
                        f"teardown is always {TEARDOWN_TRIGGER_RULE!r}; remove trigger_rule")

    def _mark(self, result: Any) -> Any:
        op = operator_of(result)
        if self.role == "setup":
            mark_setup(op)
        else:
            mark_teardown(op, self.on_failure_fail_dagrun)
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._mark(self.inner(*args, **kwargs))

    def override(self, **kwargs: Any) -> SetupTeardownDecorator:
        fail_dagrun = kwargs.pop("on_failure_fail_dagrun", self.on_failure_fail_dagrun)
        return SetupTeardownDecorator(self.inner.override(**kwargs), role=self.role,
                                      on_failure_fail_dagrun=fail_dagrun)

    def expand(self, **mapped: Any) -> Any:
        return self._mark(self.inner.expand(**mapped))

    def expand_kwargs(self, value: Any) -> Any:
        return self._mark(self.inner.expand_kwargs(value))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _as_task_factory(func: Any, what: str) -> Any:
    from leoflow.sdk.decorators import TaskDecorator, task
    from leoflow.sdk.taskgroup import TaskGroup

    if isinstance(func, SetupTeardownDecorator):
        raise _fail(f"@{what} is applied to {func.inner.function.__name__!r}, which is "
                    f"already a {func.role} task")
    if isinstance(func, TaskDecorator):
        return func
    if isinstance(func, TaskGroup) or getattr(func, "_is_task_group_factory", False):
        raise _fail(f"@{what}: task groups cannot be marked as setup or teardown")
    if not callable(func):
        raise _fail(f"@{what} expects a function or a @task, got {func!r}")
    return task(func)


def setup(func: Callable[..., Any]) -> SetupTeardownDecorator:
    """``@setup``: the decorated function (or ``@task.<kind>`` task) makes setup tasks."""
    return SetupTeardownDecorator(_as_task_factory(func, "setup"), role="setup")


def teardown(_func: Callable[..., Any] | None = None, *,
             on_failure_fail_dagrun: bool = False) -> Any:
    """``@teardown`` or ``@teardown(on_failure_fail_dagrun=True)``: makes teardown tasks."""
    def decorate(func: Callable[..., Any]) -> SetupTeardownDecorator:
        return SetupTeardownDecorator(_as_task_factory(func, "teardown"), role="teardown",
                                      on_failure_fail_dagrun=on_failure_fail_dagrun)

    return decorate if _func is None else decorate(_func)


def spec_fields(op: BaseOperator) -> dict[str, Any]:
    """dag.json's setup/teardown keys of a task; none for an ordinary task, so the JSON (and
    content hash) of DAGs without setups or teardowns is unchanged."""
    out: dict[str, Any] = {}
    if op._is_setup:
        out["is_setup"] = True
    if op._is_teardown:
        out["is_teardown"] = True
        if op._on_failure_fail_dagrun:
            out["on_failure_fail_dagrun"] = True
    return out
