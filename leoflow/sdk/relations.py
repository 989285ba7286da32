"""The ``>>`` / ``<<`` operators shared by tasks, results, task groups and edge labels.

Every participant knows its *endpoints*: the tasks an edge attaches to. For a task that is
itself; for a task group it is its leaves on the left of ``>>`` and its roots on the right,
as in Airflow.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator


class DependencyMixin:
    """Adds ``>>``, ``<<``, ``set_upstream`` and ``set_downstream``."""

    def endpoints(self) -> list[BaseOperator]:  # pragma: no cover - overridden
        raise NotImplementedError

    def upstream_endpoints(self) -> list[BaseOperator]:
        """Tasks an edge leaves from when this object stands on the left of ``>>``."""
        return self.endpoints()

    def downstream_endpoints(self) -> list[BaseOperator]:
        """Tasks an edge arrives at when this object stands on the right of ``>>``."""
        return self.endpoints()

    def set_downstream(self, other: Any, label: str | None = None) -> None:
        from leoflow.sdk.edges import Label

        for item in _flatten(other):
            if isinstance(item, Label):
                item.add_upstream(self)
                continue
            for up in self.upstream_endpoints():
                for down in _endpoints_of(item, downstream=True):
                    down.add_upstream_task(up, label=label)

    def set_upstream(self, other: Any, label: str | None = None) -> None:
        from leoflow.sdk.edges import Label

        for item in _flatten(other):
            if isinstance(item, Label):
                item.add_downstream(self)
                continue
            for up in _endpoints_of(item, downstream=False):
                for down in self.downstream_endpoints():
                    down.add_upstream_task(up, label=label)

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        """``[a, b] >> self``."""
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        """``[a, b] << self``."""
        self.set_downstream(other)
        return self


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, set, frozenset)):
        out: list[Any] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    return [value]


def _endpoints_of(value: Any, *, downstream: bool) -> list[BaseOperator]:
    if not isinstance(value, DependencyMixin):
        raise TypeError(
            f"cannot set a dependency on {value!r}: expected a task, a task's result, a "
            "task group or a list of them"
        )
    return value.downstream_endpoints() if downstream else value.upstream_endpoints()


def as_endpoints(value: Any, *, downstream: bool) -> list[BaseOperator]:
    """All tasks that ``value`` (one participant or a nested list) attaches to."""
    out: list[BaseOperator] = []
    for item in _flatten(value):
        out.extend(_endpoints_of(item, downstream=downstream))
    return out


def chain(*elements: Any) -> None:
    """``chain(a, [b, c], d)``: each element upstream of the next, as Airflow's ``chain``.

    Two adjacent lists must have the same length and are paired element by element.
    """
    for left, right in itertools.pairwise(elements):
        if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            if len(left) != len(right):
                raise ValueError(
                    f"chain() cannot pair lists of different lengths ({len(left)} and "
                    f"{len(right)})"
                )
            for a, b in zip(left, right, strict=True):
                _link(a, b)
        else:
            _link(left, right)


def _link(left: Any, right: Any) -> None:
    for item in _flatten(left):
        if not isinstance(item, DependencyMixin):
            raise TypeError(f"chain() got {item!r}, which is not a task")
        item.set_downstream(right)


def cross_downstream(from_tasks: Iterable[Any], to_tasks: Iterable[Any]) -> None:
    """Every task of ``from_tasks`` upstream of every task of ``to_tasks``."""
    targets = list(to_tasks)
    for task in from_tasks:
        task.set_downstream(targets)
