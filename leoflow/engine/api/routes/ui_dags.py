"""Airflow UI: the DAG list with each DAG's latest runs, and the dashboard's counts
(``/ui/dags``, ``/ui/dags/{dag_id}/latest_run``, ``/ui/dashboard/*``).

The list takes ``/api/v2/dags``'s filters and paging (same service, same tenant scoping)
and adds the ``dag_runs_limit`` newest runs of each DAG in one query. Filters the UI sends
that Leoflow has no data for (favourites, bundles, pending actions) select everything,
or nothing when they ask for something Leoflow never has (``is_favorite=true``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.models.common import Page, QueryDateTime, order_list
from leoflow.engine.api.models.convert import dag_response
from leoflow.engine.api.models.ui_dags import (
    TI_STATES,
    DAGRunLightResponse,
    DAGRunStates,
    DAGWithLatestDagRunsCollectionResponse,
    DAGWithLatestDagRunsResponse,
    DashboardDagStatsResponse,
    HistoricalMetricDataResponse,
)
from leoflow.engine.api.routes.dags import _page_of_dags, require_dag
from leoflow.engine.api.security import api_context, require, run_types_for
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import ui_reads
from leoflow.engine.services.rows import DagRunRow

router = APIRouter(prefix="/ui", tags=["Airflow UI"])

# Orders the UI offers that are not columns of a DAG: the page is ordered by dag_id then.
_RUN_ORDERS = {"last_run_state", "last_run_start_date", "last_run_run_after"}


def light_run(run: DagRunRow) -> DAGRunLightResponse:
    return DAGRunLightResponse(id=run.id, dag_id=run.dag_id, run_id=run.run_id,
                               logical_date=run.logical_date, run_after=run.run_after,
                               start_date=run.start_date, end_date=run.end_date,
                               state=run.state)


@router.get("/dags", response_model=DAGWithLatestDagRunsCollectionResponse)
async def get_dags(
    page: Annotated[Page, Depends()],
    dag_runs_limit: int = Query(10, ge=0, le=100),
    tags: Annotated[list[str] | None, Query()] = None,
    tags_match_mode: Literal["any", "all"] = "any",
    owners: Annotated[list[str] | None, Query()] = None,
    dag_ids: Annotated[list[str] | None, Query()] = None,
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
    dag_display_name_pattern: str | None = None,
    exclude_stale: bool = True,
    paused: bool | None = None,
    has_import_errors: bool | None = None,
    last_dag_run_state: str | None = None,
    is_favorite: bool | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> DAGWithLatestDagRunsCollectionResponse:
    """The DAGs page: one page of the caller's DAGs, each with its newest runs."""
    if is_favorite:  # Leoflow keeps no favourites
        return DAGWithLatestDagRunsCollectionResponse(total_entries=0, dags=[])
    order = [o for o in order_list(order_by, "dag_id") if o.lstrip("-") not in _RUN_ORDERS]
    found = await _page_of_dags(
        ctx, principal, page=page, paused=paused, exclude_stale=exclude_stale,
        dag_id_pattern=dag_id_pattern, dag_id_prefix=dag_id_prefix_pattern,
        display_pattern=dag_display_name_pattern, tags=tags, tags_mode=tags_match_mode,
        owners=owners, has_import_errors=has_import_errors, order=order or ["dag_id"])
    rows = [(d, s) for d, s in found.rows if not dag_ids or d.dag_id in dag_ids]
    recent = await ui_reads.recent_runs(ctx.store, (d.dag_id for d, _ in rows),
                                        max(dag_runs_limit, 1))
    dags = []
    run_types = run_types_for(principal)
    for dag, spec in rows:
        runs = recent.get(dag.dag_id, [])
        if last_dag_run_state and (not runs or runs[0].state != last_dag_run_state):
            continue
        base = dag_response(dag, spec, has_import_errors=dag.dag_id in found.errored
                            ).model_copy(update={"allowed_run_types": run_types})
        dags.append(DAGWithLatestDagRunsResponse(
            **base.model_dump(),
            latest_dag_runs=[light_run(r) for r in runs[:dag_runs_limit]]))
    filtered = len(rows) != len(found.rows) or len(dags) != len(rows)
    total = len(dags) if filtered else found.total
    return DAGWithLatestDagRunsCollectionResponse(total_entries=total, dags=dags)


@router.get("/dags/{dag_id}/latest_run", response_model=DAGRunLightResponse | None)
async def get_latest_run(dag_id: str, ctx: ApiContext = Depends(api_context),
                         principal: Principal = Depends(require(READ))
                         ) -> DAGRunLightResponse | None:
    await require_dag(ctx, dag_id, principal)
    runs = await ui_reads.runs_of_dag(ctx.store, dag_id, limit=1)
    return light_run(runs[0]) if runs else None


@router.get("/dashboard/dag_stats", response_model=DashboardDagStatsResponse)
async def get_dag_stats(ctx: ApiContext = Depends(api_context),
                        principal: Principal = Depends(require(READ))
                        ) -> DashboardDagStatsResponse:
    counts = await ui_reads.dashboard_counts(ctx.store, principal.tenant)
    return DashboardDagStatsResponse(active_dag_count=counts.active,
                                     failed_dag_count=counts.failed,
                                     running_dag_count=counts.running,
                                     queued_dag_count=counts.queued)


@router.get("/dashboard/historical_metrics_data", response_model=HistoricalMetricDataResponse)
async def get_historical_metrics(
    start_date: QueryDateTime | None = None,
    end_date: QueryDateTime | None = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> HistoricalMetricDataResponse:
    """Runs (by ``run_after``) in [start_date, end_date] by state, their task instances by
    state; the last day when ``start_date`` is absent."""
    end = end_date or datetime.now(UTC)
    start = start_date or end - timedelta(days=1)
    runs, tis = await ui_reads.historical_counts(ctx.store, principal.tenant, start, end)
    return HistoricalMetricDataResponse(
        dag_run_states=DAGRunStates(**{s: runs.get(s, 0) for s in
                                       ("queued", "running", "success", "failed")}),
        task_instance_states={s: tis.get(s, 0) for s in TI_STATES})
