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

    def map(self, _func: Any) -> Any:
        raise NotImplementedError("XComArg.map() is not supported yet; use a task instead")

    def zip(self, *_others: Any) -> Any:
        raise NotImplementedError("XComArg.zip() is not supported yet; use a task instead")

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
