"""Batch reads for pages that show many DAGs or many runs at once (the IDE's DAG list and
grid): a constant number of queries per page, whatever the number of DAGs or runs.

Reading a list DAG by DAG costs one query per DAG (its runs) and one per run (its task
instances); these answer the same questions for all of them in one query each. Nothing
here writes; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import to_rows
from leoflow.engine.store.rows import DagRow, DagRunRow, TaskInstanceRow
from leoflow.engine.store.tables import dag, dag_run, task_instance


async def task_instances_of_runs(conn: AsyncConnection,
                                 dag_run_ids: Iterable[int]) -> dict[int, list[TaskInstanceRow]]:
    """Every task instance of each run, by task id then map index (``list_for_run``'s
    order), in one query."""
    wanted = sorted(set(dag_run_ids))
    out: dict[int, list[TaskInstanceRow]] = {run_id: [] for run_id in wanted}
    if not wanted:
        return out
    query = (select(task_instance).where(task_instance.c.dag_run_id.in_(wanted))
             .order_by(task_instance.c.dag_run_id, task_instance.c.task_id,
                       task_instance.c.map_index))
    for row in to_rows(TaskInstanceRow, (await conn.execute(query)).all()):
        out[row.dag_run_id].append(row)
    return out


async def dags_with_recent_runs(conn: AsyncConnection, tenant: str, per_dag: int
                                ) -> list[tuple[DagRow, list[DagRunRow]]]:
    """Every DAG of ``tenant`` (by dag_id) with its ``per_dag`` newest runs (newest first),
    in one query: the DAGs joined to their runs ranked by id, which are numbered within
    the tenant's DAGs only."""
    mine = select(dag.c.dag_id).where(dag.c.tenant == tenant)
    rank = func.row_number().over(partition_by=dag_run.c.dag_id,
                                  order_by=dag_run.c.id.desc()).label("recent_rank")
    ranked = select(dag_run, rank).where(dag_run.c.dag_id.in_(mine)).subquery()
    run_columns = [ranked.c[c.name].label(RUN_PREFIX + c.name) for c in dag_run.columns]
    joined = dag.outerjoin(ranked, and_(ranked.c.dag_id == dag.c.dag_id,
                                        ranked.c.recent_rank <= per_dag))
    query = (select(dag, *run_columns).select_from(joined).where(dag.c.tenant == tenant)
             .order_by(dag.c.dag_id, ranked.c.id.desc()))
    out: dict[str, tuple[DagRow, list[DagRunRow]]] = {}
    for row in (await conn.execute(query)).all():
        values = row._mapping
        if row.dag_id not in out:
            out[row.dag_id] = (DagRow(**{c.name: values[c.name] for c in dag.columns}), [])
        if values[RUN_PREFIX + "id"] is not None:
            out[row.dag_id][1].append(DagRunRow(**{c.name: values[RUN_PREFIX + c.name]
                                                  for c in dag_run.columns}))
    return list(out.values())


RUN_PREFIX = "recent_run_"
