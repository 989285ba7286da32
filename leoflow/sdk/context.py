"""The stacks of "current DAG" and "current task group" while a DAG file runs.

``with DAG(...)`` and ``with TaskGroup(...)`` push onto these stacks; operators created
inside attach themselves to the innermost DAG and group, as in Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leoflow.sdk.dag import DAG
    from leoflow.sdk.taskgroup import TaskGroup

_dag_stack: list[DAG] = []
_group_stack: list[TaskGroup] = []


def push_dag(dag: DAG) -> None:
    _dag_stack.append(dag)


def pop_dag() -> None:
    _dag_stack.pop()


def current_dag() -> DAG | None:
    return _dag_stack[-1] if _dag_stack else None


def push_group(group: TaskGroup) -> None:
    _group_stack.append(group)


def pop_group() -> None:
    _group_stack.pop()


def current_group() -> TaskGroup | None:
    return _group_stack[-1] if _group_stack else None
