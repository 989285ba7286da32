"""What the pages show, read through the engine's view services.

The reads live in ``leoflow.engine.services.dag_views`` and ``run_views`` (tenant-scoped,
a fixed number of queries per page); this module gives the pages their names over the
control plane the IDE was handed, so a page reads ``queries.dag_detail(plane, ...)`` and
never a store. Pages write only through ``plane.operations``.

Every read is scoped to a tenant, as the API's are: lists hold the tenant's DAGs only, and a
DAG of another tenant reads as one that does not exist (None). Pages pass the tenant of the
principal ``Access`` has just checked (``leoflow.ide.access``).
"""

from __future__ import annotations

from typing import Any

from leoflow.engine.services import dag_views, run_views
from leoflow.engine.services.container import Services
from leoflow.engine.services.dag_views import (
    GRID_RUNS,
    RECENT_RUNS,
    DagDetail,
    DagSummary,
    GridData,
    schedule_text,
)
from leoflow.engine.services.run_views import RunBrief, TaskInstanceDetail, waiting_text
from leoflow.engine.spec.model import DagSpec

__all__ = ["GRID_RUNS", "RECENT_RUNS", "DagDetail", "DagSummary", "GridData", "RunBrief",
           "TaskInstanceDetail", "current_spec", "dag_detail", "dag_exists", "dag_summaries",
           "dag_tenant", "latest_states", "list_import_errors", "run_history",
           "schedule_text", "task_instance_detail", "version_source", "waiting_text"]


async def dag_tenant(plane: Services, dag_id: str) -> str | None:
    """The tenant a DAG belongs to (None: no such DAG)."""
    return await dag_views.dag_tenant(plane.store, dag_id)


async def dag_summaries(plane: Services, *, tenant: str) -> list[DagSummary]:
    """Every DAG of ``tenant``, with its schedule and its last runs."""
    return await dag_views.dag_summaries(plane.store, tenant=tenant)


async def list_import_errors(plane: Services, *, tenant: str) -> list[Any]:
    """The import errors ``tenant`` may read (``dag_views.tenant_import_errors``)."""
    return await dag_views.tenant_import_errors(plane.store, tenant=tenant)


async def current_spec(plane: Services, dag_id: str, *, tenant: str) -> DagSpec | None:
    return await dag_views.current_spec(plane.store, dag_id, tenant=tenant)


async def latest_states(plane: Services, dag_id: str, run_id: str | None = None, *, tenant: str
                        ) -> tuple[str | None, dict[str, str | None]]:
    """(run_id, task id → state) of ``run_id`` or of the DAG's latest run."""
    return await run_views.latest_states(plane.store, dag_id, run_id, tenant=tenant)


async def dag_detail(plane: Services, dag_id: str, *, tenant: str,
                     grid_runs: int = GRID_RUNS) -> DagDetail | None:
    return await dag_views.dag_detail(plane.store, dag_id, tenant=tenant, grid_runs=grid_runs)


async def run_history(plane: Services, dag_id: str, limit: int = 100, *,
                      tenant: str) -> list[RunBrief]:
    return await run_views.run_history(plane.store, dag_id, limit, tenant=tenant)


async def version_source(plane: Services, dag_id: str, version_number: int, *,
                         tenant: str) -> str | None:
    return await dag_views.version_source(plane.store, dag_id, version_number, tenant=tenant)


async def task_instance_detail(plane: Services, dag_id: str, run_id: str, task_id: str,
                               map_index: int = -1, *, tenant: str
                               ) -> TaskInstanceDetail | None:
    return await run_views.task_instance_detail(
        plane.store, plane.xcom, dag_id, run_id, task_id, map_index, tenant=tenant,
        spec_of=dag_views.spec_of)


async def dag_exists(plane: Services, dag_id: str, *, tenant: str) -> bool:
    return await dag_views.dag_exists(plane.store, dag_id, tenant=tenant)
