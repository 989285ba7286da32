"""What the Prometheus metrics read from the store: counts by state for the gauges, and the
graph of the version a run is pinned to (for the scheduling delays).

Read-only aggregate queries on indexed columns; each call opens its own connection. The
metrics module (``engine/api/metrics.py``) owns the gauges and decides when to read.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from leoflow.engine.store import Store, dags, runs
from leoflow.engine.store.rows import DagVersionRow
from leoflow.engine.store.tables import dag_run, task_instance


@dataclass(frozen=True)
class StateCounts:
    """(label, count) rows: runs by state, task instances by state, in-flight by executor."""

    runs: Sequence[Any]
    task_instances: Sequence[Any]
    slots: Sequence[Any]


async def state_counts(store: Store) -> StateCounts:
    """Counts by state, read in one connection. No repository offers a count by state, so
    the queries are here, next to nothing else."""
    async with store.connect() as conn:
        run_rows = (await conn.execute(
            select(dag_run.c.state, func.count()).group_by(dag_run.c.state))).all()
        ti_rows = (await conn.execute(
            select(task_instance.c.state, func.count())
            .group_by(task_instance.c.state))).all()
        slot_rows = (await conn.execute(
            select(task_instance.c.executor, func.count())
            .where(task_instance.c.state.in_(("queued", "running")))
            .group_by(task_instance.c.executor))).all()
    return StateCounts(runs=run_rows, task_instances=ti_rows, slots=slot_rows)


async def pinned_version(store: Store, dag_id: str, run_id: str,
                         known: Collection[str] = ()) -> tuple[str, DagVersionRow | None] | None:
    """(the version id the run is pinned to, that version unless its id is in ``known``);
    None when the run does not exist."""
    async with store.connect() as conn:
        run = await runs.get_run(conn, dag_id, run_id)
        if run is None:
            return None
        if run.dag_version_id in known:
            return run.dag_version_id, None
        return run.dag_version_id, await dags.get_version(conn, run.dag_version_id)
