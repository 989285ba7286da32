"""The run and task-instance reads of the Airflow face (``/api/v2/.../dagRuns`` and the
routes that answer with runs or task instances).

Scoped to a tenant like the rest of the API: a run of another tenant's DAG is None, the same
answer as an absent one. The connection-taking functions let a route that reads several
things share one snapshot (through ``services.reads.read``); the ``Store``-taking ones open
their own read connection.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.services.run_views import visible_dag
from leoflow.engine.store import Store, dags, listings, runs, task_instances
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.listings import Range
from leoflow.engine.store.rows import (
    DagRow,
    DagRunRow,
    DagVersionRow,
    Page,
    TaskInstanceRow,
    TriggerRow,
)


@dataclass(frozen=True)
class TaskInstanceLinks:
    """What a task instance's response needs besides the row: its run, the run's version,
    and for a deferred one the trigger it waits on."""

    runs: dict[int, DagRunRow]
    triggers: Mapping[int, TriggerRow]
    versions: dict[str, DagVersionRow]


async def visible_run(conn: AsyncConnection, dag_id: str, run_id: str, tenant: str
                      ) -> tuple[DagRow, DagRunRow] | None:
    """The run of a DAG of ``tenant`` with its DAG; None when the DAG or the run is absent
    or the DAG is another tenant's."""
    dag = await visible_dag(conn, dag_id, tenant)
    if dag is None:
        return None
    run = await runs.get_run(conn, dag_id, run_id)
    return None if run is None else (dag, run)


async def find_visible_run(store: Store, dag_id: str, run_id: str, *, tenant: str
                           ) -> DagRunRow | None:
    """``visible_run`` on its own read connection."""
    async with store.connect() as conn:
        found = await visible_run(conn, dag_id, run_id, tenant)
    return None if found is None else found[1]


async def get_run(store: Store, dag_id: str, run_id: str) -> DagRunRow | None:
    """The run as it is now (after an edit the route has already checked)."""
    async with store.connect() as conn:
        return await runs.get_run(conn, dag_id, run_id)


async def versions_of_runs(conn: AsyncConnection, rows: Iterable[DagRunRow]
                           ) -> dict[str, DagVersionRow]:
    """The DAG versions the runs are pinned to, by version id."""
    return await listings.versions_by_id(conn, (r.dag_version_id for r in rows))


async def run_versions(store: Store, rows: Sequence[DagRunRow]) -> dict[str, DagVersionRow]:
    """``versions_of_runs`` on its own read connection."""
    async with store.connect() as conn:
        return await versions_of_runs(conn, rows)


async def task_instance_links(conn: AsyncConnection, rows: Sequence[TaskInstanceRow]
                              ) -> TaskInstanceLinks:
    """The runs, versions and awaited triggers of ``rows``, three queries whatever their
    number."""
    by_run = await listings.runs_by_id(conn, (t.dag_run_id for t in rows))
    waiting = await trigger_rows.get_triggers(conn, {t.trigger_id for t in rows
                                                     if t.trigger_id is not None})
    versions = await listings.versions_by_id(conn, (r.dag_version_id for r in by_run.values()))
    return TaskInstanceLinks(runs=by_run, triggers=waiting, versions=versions)


async def links_of(store: Store, rows: Sequence[TaskInstanceRow]) -> TaskInstanceLinks:
    """``task_instance_links`` on its own read connection."""
    async with store.connect() as conn:
        return await task_instance_links(conn, rows)


async def page_of_runs(store: Store, *, tenant: str, dag_id: str | None,
                       dag_id_pattern: str | None, run_id_pattern: str | None,
                       triggering_user_pattern: str | None, state: Collection[str] | None,
                       run_type: Collection[str] | None, ranges: Mapping[str, Range],
                       order: list[str], limit: int, offset: int
                       ) -> tuple[Page[DagRunRow], dict[str, DagVersionRow]]:
    """One page of the tenant's runs (of ``dag_id``, or of every DAG with None) with their
    versions. Raises ``UnknownOrderField``."""
    async with store.connect() as conn:
        result = await listings.list_runs(
            conn, tenant=tenant, dag_id=dag_id, dag_id_pattern=dag_id_pattern,
            run_id_pattern=run_id_pattern, triggering_user_pattern=triggering_user_pattern,
            state=state, run_type=run_type, ranges=ranges, order=order, limit=limit,
            offset=offset)
        return result, await versions_of_runs(conn, result.items)


async def runs_of_dag(conn: AsyncConnection, tenant: str, dag_id: str) -> list[DagRunRow]:
    """Every run of the tenant's DAG ``dag_id``, oldest first (for past/future selections)."""
    return await listings.find_runs(conn, tenant=tenant, dag_id=dag_id)


async def run_of(conn: AsyncConnection, dag_id: str, run_id: str) -> DagRunRow | None:
    """The run ``run_id`` of ``dag_id`` (the caller has checked the DAG is visible)."""
    return await runs.get_run(conn, dag_id, run_id)


async def instances_of_run(conn: AsyncConnection, run: DagRunRow,
                           task_id: str | None = None) -> list[TaskInstanceRow]:
    """The run's task instances (of ``task_id`` only, if given), by task id and map index."""
    return await task_instances.list_for_run(conn, run.id, task_id=task_id)


async def instances_by_id(conn: AsyncConnection, ids: Iterable[str]
                          ) -> list[TaskInstanceRow | None]:
    """Task instances as they are now, one per id (None for one deleted meanwhile)."""
    return [await task_instances.get_task_instance_by_id(conn, ti_id) for ti_id in ids]


async def version_of(conn: AsyncConnection, run: DagRunRow) -> DagVersionRow | None:
    """The DAG version ``run`` is pinned to."""
    return await dags.get_version(conn, run.dag_version_id)


async def matching_runs(store: Store, *, tenant: str, run_id: str | None,
                        dag_id: str | None) -> list[DagRunRow]:
    """The tenant's runs by run id and/or DAG id (None: any), oldest first."""
    async with store.connect() as conn:
        return await listings.find_runs(conn, tenant=tenant, run_id=run_id, dag_id=dag_id)
