"""Every DAG object created while a DAG file runs, in creation order.

The compiler reads this list after executing ``dag.py``; the task runner uses it to find
the DAG and task it must run. Unlike Airflow it does not scan module globals, so a DAG
built inside a function or a loop is found too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leoflow.sdk.dag import DAG

_dags: list[DAG] = []


def register(dag: DAG) -> None:
    _dags.append(dag)


def collected() -> list[DAG]:
    """The DAGs created so far, in the order their ``DAG(...)`` ran."""
    return list(_dags)


def clear() -> None:
    _dags.clear()
