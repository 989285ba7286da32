"""The task-instance reads of the Airflow face (``/api/v2/.../taskInstances``): a page of a
tenant's task instances, one instance, its tries.

Each call opens its own read connection and is tenant-scoped: a run of another tenant's DAG
reads as absent. The route turns what it gets into Airflow's answers and messages.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from leoflow.engine.services.run_listing import (
    TaskInstanceLinks,
    task_instance_links,
    visible_run,
)
from leoflow.engine.store import Store, dags, listings, task_instances
from leoflow.engine.store.listings import Range
from leoflow.engine.store.rows import (
    DagRunRow,
    DagVersionRow,
    Page,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
)


@dataclass(frozen=True)
class TaskInstanceFilters:
    """Airflow's task-instance list filters, as the listing takes them."""

    task_ids: Collection[str] | None
    state: Collection[str | None] | None
    pool: Collection[str] | None
    executor: Collection[str] | None
    operator: Collection[str] | None
    try_number: Collection[int] | None
    map_index: Collection[int] | None
    version_number: Collection[int] | None
    dag_id_pattern: str | None
    run_id_pattern: str | None
    task_id_pattern: str | None
    ranges: Mapping[str, Range]
    order: Sequence[str]


@dataclass(frozen=True)
class Tries:
    """One instance's recorded tries, its live row (None if absent) and the run's version."""

    run: DagRunRow
    live: TaskInstanceRow | None
    history: list[TaskInstanceHistoryRow]
    version: DagVersionRow | None


async def page_of_task_instances(store: Store, *, tenant: str, dag_id: str | None,
                                 run_id: str | None, filters: TaskInstanceFilters,
                                 mapped_only: bool, limit: int, offset: int
                                 ) -> tuple[Page[TaskInstanceRow], TaskInstanceLinks]:
    """One page of the tenant's task instances with what their responses need. Raises
    ``UnknownOrderField``."""
    async with store.connect() as conn:
        result = await listings.list_task_instances(
            conn, tenant=tenant, dag_id=dag_id, run_id=run_id, task_ids=filters.task_ids,
            state=filters.state, pool=filters.pool, executor=filters.executor,
            operator=filters.operator, try_number=filters.try_number,
            map_index=filters.map_index, version_number=filters.version_number,
            dag_id_pattern=filters.dag_id_pattern, run_id_pattern=filters.run_id_pattern,
            task_id_pattern=filters.task_id_pattern, ranges=filters.ranges,
            order=filters.order, mapped_only=mapped_only, limit=limit, offset=offset)
        return result, await task_instance_links(conn, result.items)


async def run_exists(store: Store, *, tenant: str, run_id: str, dag_id: str | None) -> bool:
    """Whether the tenant has a run ``run_id`` (of ``dag_id``, or of any DAG with None)."""
    async with store.connect() as conn:
        return bool(await listings.find_runs(conn, tenant=tenant, run_id=run_id,
                                             dag_id=dag_id))


async def instance(store: Store, dag_id: str, run_id: str, task_id: str, map_index: int, *,
                   tenant: str) -> tuple[DagRunRow | None, TaskInstanceRow | None]:
    """(the visible run, its instance ``task_id``/``map_index``); None for what is absent."""
    async with store.connect() as conn:
        found = await visible_run(conn, dag_id, run_id, tenant)
        if found is None:
            return None, None
        run = found[1]
        return run, await task_instances.get_task_instance(conn, run.id, task_id, map_index)


async def has_instances(store: Store, run: DagRunRow, task_id: str) -> bool:
    """Whether ``task_id`` has any instance in ``run`` (a mapped task has no index -1)."""
    async with store.connect() as conn:
        return bool(await task_instances.list_for_run(conn, run.id, task_id=task_id))


async def tries(store: Store, dag_id: str, run_id: str, task_id: str, map_index: int, *,
                tenant: str) -> Tries | None:
    """Every recorded try of an instance with its live row; None when the run is not the
    tenant's."""
    async with store.connect() as conn:
        found = await visible_run(conn, dag_id, run_id, tenant)
        if found is None:
            return None
        run = found[1]
        live = await task_instances.get_task_instance(conn, run.id, task_id, map_index)
        history = await task_instances.list_tries(conn, run.id, task_id, map_index)
        version = await dags.get_version(conn, run.dag_version_id)
    return Tries(run=run, live=live, history=history, version=version)


async def version_of_run(store: Store, run: DagRunRow) -> DagVersionRow | None:
    """The DAG version ``run`` is pinned to."""
    async with store.connect() as conn:
        return await dags.get_version(conn, run.dag_version_id)
