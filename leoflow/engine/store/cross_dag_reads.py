"""Reads of another DAG's runs and task instances, as Airflow's Task Execution API answers
them (``/dag-runs/count``, ``/task-instances/count``, ``/task-instances/states``).

Filters follow Airflow's: an empty or missing list means "any"; ``logical_dates`` match the
run's logical date; a state ``None`` in ``states`` means "no state yet" (Airflow's
``"null"``). The caller decides which DAG may be read (the tenancy rule lives in
``leoflow.engine.services.task_dag_runs``); these functions never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store.tables import dag_run, task_instance


@dataclass(frozen=True, slots=True)
class TaskInstanceFilter:
    """Which task instances of ``dag_id``: Airflow's ``GetTICount``/``GetTaskStates`` fields."""

    dag_id: str
    task_ids: Sequence[str] = ()
    map_index: int | None = None
    logical_dates: Sequence[datetime] = ()
    run_ids: Sequence[str] = ()
    states: Collection[str | None] = ()


def _states(column: Any, states: Collection[str | None]) -> Any:
    named = [s for s in states if s is not None]
    condition = column.in_(named)
    return or_(condition, column.is_(None)) if None in states else condition


async def count_runs(conn: AsyncConnection, dag_id: str, *,
                     logical_dates: Sequence[datetime] = (), run_ids: Sequence[str] = (),
                     states: Collection[str] = ()) -> int:
    """How many runs of ``dag_id`` match (Airflow's ``get_dr_count``)."""
    query = select(func.count()).select_from(dag_run).where(dag_run.c.dag_id == dag_id)
    if logical_dates:
        query = query.where(dag_run.c.logical_date.in_(list(logical_dates)))
    if run_ids:
        query = query.where(dag_run.c.run_id.in_(list(run_ids)))
    if states:
        query = query.where(dag_run.c.state.in_(list(states)))
    return int((await conn.execute(query)).scalar_one())


def _ti_query(columns: Sequence[Any], where: TaskInstanceFilter,
              task_ids: Collection[str] | None) -> Any:
    query = select(*columns).select_from(task_instance).where(
        task_instance.c.dag_id == where.dag_id)
    if where.logical_dates:
        query = query.join(dag_run, dag_run.c.id == task_instance.c.dag_run_id).where(
            dag_run.c.logical_date.in_(list(where.logical_dates)))
    if where.task_ids:
        query = query.where(task_instance.c.task_id.in_(list(where.task_ids)))
    if task_ids is not None:  # a task group's members
        query = query.where(task_instance.c.task_id.in_(list(task_ids)))
    if where.map_index is not None:
        query = query.where(task_instance.c.map_index == where.map_index)
    if where.run_ids:
        query = query.where(task_instance.c.run_id.in_(list(where.run_ids)))
    if where.states:
        query = query.where(_states(task_instance.c.state, where.states))
    return query


async def count_task_instances(conn: AsyncConnection, where: TaskInstanceFilter, *,
                               among: Collection[str] | None = None) -> int:
    """How many task instances match ``where`` (and are among the task ids ``among`` when
    given: a task group's members)."""
    query = _ti_query([func.count()], where, among)
    return int((await conn.execute(query)).scalar_one())


async def task_states(conn: AsyncConnection, where: TaskInstanceFilter, *,
                      among: Collection[str] | None = None
                      ) -> list[tuple[str, str, int, str | None]]:
    """``(run_id, task_id, map_index, state)`` of the matching task instances."""
    columns = [task_instance.c.run_id, task_instance.c.task_id, task_instance.c.map_index,
               task_instance.c.state]
    query = _ti_query(columns, where, among).order_by(
        task_instance.c.run_id, task_instance.c.task_id, task_instance.c.map_index)
    return [(str(r[0]), str(r[1]), int(r[2]), r[3]) for r in (await conn.execute(query)).all()]
