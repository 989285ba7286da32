"""References to values that exist only at run time: upstream results and DAG params.

Passing one task's result to another (``load(transform(extract()))``) hands around an
``XComArg``; the compiler records it as an input reference and as a dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leoflow.sdk.relations import DependencyMixin
from leoflow.sdk.setup_teardown import SetupTeardownMixin

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator

XCOM_RETURN_KEY = "return_value"
NOTSET: Any = type("NotSet", (), {"__repr__": lambda self: "NOTSET"})()
"""No ``fillvalue`` given to ``zip`` (None is a valid fill value)."""


class XComArg(SetupTeardownMixin, DependencyMixin):
    """The value a task will push under ``key`` (its return value by default)."""

    def __init__(self, operator: BaseOperator, key: str = XCOM_RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> XComArg:
        """``result["name"]``: one key of a ``multiple_outputs`` task."""
        if not isinstance(key, str):
            raise TypeError(f"XCom keys are strings, got {key!r}")
        return XComArg(self.operator, key)

    def __iter__(self) -> Any:
        raise TypeError(
            f"the result of task {self.operator.task_id!r} is not known while the DAG is "
            "defined, so it cannot be iterated; use .expand() to map over it"
        )

    def references(self) -> list[BaseOperator]:
        """The tasks whose results this value is made of (its dependencies)."""
        return [self.operator]

    def map(self, fn: Any) -> XComArg:
        """Each item passed through ``fn``, lazily, in the consumer's process (Airflow's
        ``XComArg.map``); see ``leoflow.sdk.xcom_transforms``."""
        from leoflow.sdk.xcom_transforms import make_map

        return make_map(self, fn)

    def zip(self, *others: XComArg, fillvalue: Any = NOTSET) -> XComArg:
        """Items of this and ``others`` side by side; with ``fillvalue``, up to the longest."""
        from leoflow.sdk.xcom_transforms import make_zip

        return make_zip(self, others, fillvalue)

    def concat(self, *others: XComArg) -> XComArg:
        """The items of this result, then those of ``others``."""
        from leoflow.sdk.xcom_transforms import make_concat

        return make_concat(self, others)

    @property
    def task_id(self) -> str:
        return self.operator.task_id

    def endpoints(self) -> list[BaseOperator]:
        return [self.operator]

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"


class DagParam:
    """A ``@dag`` function's parameter: resolved from the run's params when a task runs."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"
