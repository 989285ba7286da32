"""The reads of Airflow's web UI (its private ``/ui`` API): the dashboard's counts, the
DAG list's latest runs, the grid's runs and task instances, the calendar.

Every read is scoped to a tenant, as the rest of the Airflow face: another tenant's DAGs
and runs are never counted nor returned. Each function opens one read connection and
answers with plain rows and numbers; the routes (``engine/api/routes/ui_*``) shape them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, select

from leoflow.engine.store import Store
from leoflow.engine.store._sql import to_rows
from leoflow.engine.store.overviews import task_instances_of_runs
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow
from leoflow.engine.store.tables import dag, dag_run, task_instance


@dataclass(frozen=True)
class DashboardCounts:
    active: int
    failed: int
    running: int
    queued: int


def _tenant_dags(tenant: str) -> Select[tuple[str]]:
    return select(dag.c.dag_id).where(dag.c.tenant == tenant, dag.c.is_stale.is_(False))


async def dashboard_counts(store: Store, tenant: str) -> DashboardCounts:
    """Active (unpaused) DAGs; DAGs whose newest run failed; DAGs with a run running or
    queued now (Airflow's ``/ui/dashboard/dag_stats``)."""
    mine = _tenant_dags(tenant)
    async with store.connect() as conn:
        active = (await conn.execute(
            select(func.count()).select_from(dag).where(
                dag.c.tenant == tenant, dag.c.is_stale.is_(False),
                dag.c.is_paused.is_(False)))).scalar_one()
        newest = (select(dag_run.c.dag_id, func.max(dag_run.c.id).label("id"))
                  .where(dag_run.c.dag_id.in_(mine)).group_by(dag_run.c.dag_id).subquery())
        failed = (await conn.execute(
            select(func.count()).select_from(dag_run.join(newest, and_(
                newest.c.id == dag_run.c.id))).where(dag_run.c.state == "failed"))).scalar_one()
        by_state: dict[str, int] = {str(s): int(n) for s, n in (await conn.execute(
            select(dag_run.c.state, func.count(func.distinct(dag_run.c.dag_id)))
            .where(dag_run.c.dag_id.in_(mine), dag_run.c.state.in_(("running", "queued")))
            .group_by(dag_run.c.state))).all()}
    return DashboardCounts(active=int(active), failed=int(failed),
                           running=by_state.get("running", 0),
                           queued=by_state.get("queued", 0))


async def historical_counts(store: Store, tenant: str, start: datetime, end: datetime
                            ) -> tuple[Counter[str], Counter[str]]:
    """Runs by state and their task instances by state (``None`` as ``no_status``), for
    runs whose ``run_after`` falls in [start, end]."""
    mine = _tenant_dags(tenant)
    window = and_(dag_run.c.dag_id.in_(mine), dag_run.c.run_after >= start,
                  dag_run.c.run_after <= end)
    async with store.connect() as conn:
        runs = (await conn.execute(select(dag_run.c.state, func.count())
                                   .where(window).group_by(dag_run.c.state))).all()
        tis = (await conn.execute(
            select(task_instance.c.state, func.count())
            .select_from(task_instance.join(dag_run, dag_run.c.id == task_instance.c.dag_run_id))
            .where(window).group_by(task_instance.c.state))).all()
    run_counts: Counter[str] = Counter({str(s): int(n) for s, n in runs if s})
    ti_counts: Counter[str] = Counter({(s or "no_status"): int(n) for s, n in tis})
    return run_counts, ti_counts


async def recent_runs(store: Store, dag_ids: Iterable[str], per_dag: int
                      ) -> dict[str, list[DagRunRow]]:
    """The ``per_dag`` newest runs of each DAG (newest first); the caller has checked the
    DAGs are the tenant's."""
    wanted = sorted(set(dag_ids))
    out: dict[str, list[DagRunRow]] = {d: [] for d in wanted}
    if not wanted or per_dag <= 0:
        return out
    rank = func.row_number().over(partition_by=dag_run.c.dag_id,
                                  order_by=dag_run.c.id.desc()).label("rank")
    ranked = select(dag_run, rank).where(dag_run.c.dag_id.in_(wanted)).subquery()
    query = (select(*[ranked.c[c.name] for c in dag_run.columns])
             .where(ranked.c.rank <= per_dag).order_by(ranked.c.dag_id, ranked.c.id.desc()))
    async with store.connect() as conn:
        for row in to_rows(DagRunRow, (await conn.execute(query)).all()):
            out[row.dag_id].append(row)
    return out


async def runs_of_dag(store: Store, dag_id: str, *, limit: int, offset: int = 0,
                      newest_first: bool = True, run_ids: Iterable[str] | None = None,
                      states: Iterable[str] | None = None,
                      run_types: Iterable[str] | None = None) -> list[DagRunRow]:
    """Runs of one DAG (the caller has checked it is the tenant's), by run_after."""
    order = dag_run.c.run_after.desc() if newest_first else dag_run.c.run_after.asc()
    query = select(dag_run).where(dag_run.c.dag_id == dag_id)
    if run_ids is not None:
        query = query.where(dag_run.c.run_id.in_(list(run_ids)))
    if states:
        query = query.where(dag_run.c.state.in_(list(states)))
    if run_types:
        query = query.where(dag_run.c.run_type.in_(list(run_types)))
    query = query.order_by(order, dag_run.c.id.desc()).limit(limit).offset(offset)
    async with store.connect() as conn:
        return to_rows(DagRunRow, (await conn.execute(query)).all())


async def instances_of_runs(store: Store, runs: Iterable[DagRunRow]
                            ) -> dict[int, list[TaskInstanceRow]]:
    """Every task instance of each run, by the run's id."""
    async with store.connect() as conn:
        return await task_instances_of_runs(conn, (r.id for r in runs))


async def runs_between(store: Store, dag_id: str, start: datetime | None,
                       end: datetime | None) -> list[DagRunRow]:
    """Runs of one DAG whose ``run_after`` is in [start, end) (open bounds when None)."""
    query = select(dag_run).where(dag_run.c.dag_id == dag_id)
    if start is not None:
        query = query.where(dag_run.c.run_after >= start)
    if end is not None:
        query = query.where(dag_run.c.run_after < end)
    async with store.connect() as conn:
        return to_rows(DagRunRow, (await conn.execute(query.order_by(dag_run.c.run_after))).all())
