"""Airflow ``/api/v2/dags/{dag_id}/dagRuns``: list (``~`` for every DAG), get, trigger,
patch state or note, delete, clear.

Triggering follows Airflow 3's strict body (``logical_date`` present but nullable and
timezone-aware, unknown keys refused) and answers **200**; a paused DAG may be triggered,
its run stays queued until the DAG is unpaused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.common import (
    RUN_ID_PATTERN,
    CursorPage,
    Page,
    QueryDateTime,
    check_json_body,
    no_nul,
    order_list,
)
from leoflow.engine.api.models.convert import dag_run_response, task_instance_response
from leoflow.engine.api.models.dag_runs import (
    DAGRunClearBody,
    DAGRunCollectionResponse,
    DAGRunPatchBody,
    DAGRunResponse,
    TriggerDAGRunPostBody,
)
from leoflow.engine.api.models.task_instances import TaskInstanceCollectionResponse
from leoflow.engine.api.routes.dags import bad_order, require_dag, spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import EDIT_RUNS, READ, Principal
from leoflow.engine.services import run_edits, run_listing
from leoflow.engine.services.errors import InvalidConf, InvalidParams
from leoflow.engine.services.limits import MAX_CONF_BYTES, check_json_size
from leoflow.engine.services.rows import (
    DagRow,
    DagRunRow,
    DagVersionRow,
    Range,
    TaskInstanceRow,
    UnknownOrderField,
)

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["DagRun"],
                   dependencies=[Depends(no_nul)])

ALL = "~"
RunStateQuery = Literal["queued", "running", "success", "failed"]
RunTypeQuery = Literal["backfill", "scheduled", "manual", "operator_triggered",
                       "asset_triggered", "asset_materialization"]


def run_not_found(dag_id: str, run_id: str) -> NotFound:
    return NotFound(f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found")


async def visible_run(conn: AsyncConnection, dag_id: str, run_id: str,
                      principal: Principal) -> tuple[DagRow, DagRunRow]:
    """The run of a DAG of the caller's tenant; 404 otherwise (absent or another tenant's)."""
    found = await run_listing.visible_run(conn, dag_id, run_id, principal.tenant)
    if found is None:
        raise run_not_found(dag_id, run_id)
    return found


async def require_run(ctx: ApiContext, dag_id: str, run_id: str,
                      principal: Principal) -> DagRunRow:
    """The run of a DAG of the caller's tenant, on its own read connection; 404 otherwise."""
    run = await run_listing.find_visible_run(ctx.store, dag_id, run_id,
                                             tenant=principal.tenant)
    if run is None:
        raise run_not_found(dag_id, run_id)
    return run


def responses_of_runs(ctx: ApiContext, rows: Sequence[DagRunRow],
                      versions: Mapping[str, DagVersionRow]) -> list[DAGRunResponse]:
    cache = spec_cache(ctx)
    out = []
    for row in rows:
        version = versions.get(row.dag_version_id)
        out.append(dag_run_response(row, version, cache.get(version)))
    return out


async def run_response(ctx: ApiContext, run: DagRunRow) -> DAGRunResponse:
    """One run's response, its version read on its own connection."""
    return responses_of_runs(ctx, [run], await run_listing.run_versions(ctx.store, [run]))[0]


async def fresh_run_response(ctx: ApiContext, dag_id: str, run_id: str) -> DAGRunResponse:
    """The run as it is after an edit (404 when it was deleted meanwhile)."""
    fresh = await run_listing.get_run(ctx.store, dag_id, run_id)
    if fresh is None:
        raise run_not_found(dag_id, run_id)
    return await run_response(ctx, fresh)


def responses_of_tis(ctx: ApiContext, rows: Sequence[TaskInstanceRow],
                     links: run_listing.TaskInstanceLinks) -> TaskInstanceCollectionResponse:
    cache = spec_cache(ctx)
    items = []
    for ti in rows:
        run = links.runs.get(ti.dag_run_id)
        if run is None:  # deleted meanwhile
            continue
        version = links.versions.get(run.dag_version_id)
        trigger = links.triggers.get(ti.trigger_id) if ti.trigger_id else None
        items.append(task_instance_response(ti, run, cache.get(version), version, trigger))
    return TaskInstanceCollectionResponse(task_instances=items, total_entries=len(items))


async def ti_responses(ctx: ApiContext, conn: AsyncConnection,
                       rows: Sequence[TaskInstanceRow]) -> TaskInstanceCollectionResponse:
    """Task instances as a collection (every item in it), with their runs and versions, and
    for deferred ones the trigger they wait on."""
    return responses_of_tis(ctx, rows, await run_listing.task_instance_links(conn, rows))


async def ti_collection(ctx: ApiContext,
                        rows: Sequence[TaskInstanceRow]) -> TaskInstanceCollectionResponse:
    """``ti_responses`` on its own read connection."""
    return responses_of_tis(ctx, rows, await run_listing.links_of(ctx.store, rows))


def date_range(gte: datetime | None, gt: datetime | None, lte: datetime | None,
               lt: datetime | None) -> Range:
    return Range(gte=gte, gt=gt, lte=lte, lt=lt)


class RunRanges:
    """The ``run_after_*``, ``logical_date_*``, ``start_date_*``, ``end_date_*`` filters."""

    def __init__(
        self,
        run_after_gte: QueryDateTime | None = None,
        run_after_gt: QueryDateTime | None = None,
        run_after_lte: QueryDateTime | None = None,
        run_after_lt: QueryDateTime | None = None,
        logical_date_gte: QueryDateTime | None = None,
        logical_date_gt: QueryDateTime | None = None,
        logical_date_lte: QueryDateTime | None = None,
        logical_date_lt: QueryDateTime | None = None,
        start_date_gte: QueryDateTime | None = None,
        start_date_gt: QueryDateTime | None = None,
        start_date_lte: QueryDateTime | None = None,
        start_date_lt: QueryDateTime | None = None,
        end_date_gte: QueryDateTime | None = None,
        end_date_gt: QueryDateTime | None = None,
        end_date_lte: QueryDateTime | None = None,
        end_date_lt: QueryDateTime | None = None,
    ) -> None:
        all_ranges = {
            "run_after": date_range(run_after_gte, run_after_gt, run_after_lte, run_after_lt),
            "logical_date": date_range(logical_date_gte, logical_date_gt, logical_date_lte,
                                       logical_date_lt),
            "start_date": date_range(start_date_gte, start_date_gt, start_date_lte,
                                     start_date_lt),
            "end_date": date_range(end_date_gte, end_date_gt, end_date_lte, end_date_lt),
        }
        self.ranges = {k: v for k, v in all_ranges.items() if not v.is_open()}


@router.get("/dagRuns", response_model=DAGRunCollectionResponse)
async def get_dag_runs(
    dag_id: str,
    page: Annotated[Page, Depends(CursorPage)],
    ranges: Annotated[RunRanges, Depends()],
    state: Annotated[list[RunStateQuery] | None, Query()] = None,
    run_type: Annotated[list[RunTypeQuery] | None, Query()] = None,
    run_id_pattern: str | None = None,
    dag_id_pattern: str | None = None,
    triggering_user_name_pattern: str | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> DAGRunCollectionResponse:
    """Runs of one DAG, or of every DAG of the caller's tenant with ``dag_id`` ``~``."""
    if dag_id != ALL:
        await require_dag(ctx, dag_id, principal,
                          f"The DAG with dag_id: `{dag_id}` was not found")
    try:
        result, versions = await run_listing.page_of_runs(
            ctx.store, tenant=principal.tenant, dag_id=None if dag_id == ALL else dag_id,
            dag_id_pattern=dag_id_pattern, run_id_pattern=run_id_pattern,
            triggering_user_pattern=triggering_user_name_pattern, state=state,
            run_type=run_type, ranges=ranges.ranges, order=order_list(order_by, "id"),
            limit=page.limit, offset=page.offset)
    except UnknownOrderField as exc:
        raise bad_order(exc) from None
    items = responses_of_runs(ctx, result.items, versions)
    cursors = page.links(result.total) if isinstance(page, CursorPage) else {}
    return DAGRunCollectionResponse(dag_runs=items, total_entries=result.total, **cursors)


@router.get("/dagRuns/{dag_run_id}", response_model=DAGRunResponse)
async def get_dag_run(dag_id: str, dag_run_id: str, ctx: ApiContext = Depends(api_context),
                      principal: Principal = Depends(require(READ))) -> DAGRunResponse:
    return await run_response(ctx, await require_run(ctx, dag_id, dag_run_id, principal))


@router.post("/dagRuns", response_model=DAGRunResponse, status_code=200,
             responses={409: {"description": "a run with this run id or logical date exists"}})
async def trigger_dag_run(dag_id: str, body: TriggerDAGRunPostBody,
                          ctx: ApiContext = Depends(api_context),
                          principal: Principal = Depends(require(EDIT_RUNS))) -> DAGRunResponse:
    """Create a manual run (200, state ``queued``). ``logical_date`` is required in the body
    but may be null; ``conf`` is checked against the DAG's params."""
    missing = f"DAG with dag_id: '{dag_id}' not found"
    await require_dag(ctx, dag_id, principal, missing)
    if body.dag_run_id is not None and not re.match(RUN_ID_PATTERN, body.dag_run_id):
        raise ApiError(400, f"The run_id provided '{body.dag_run_id}' does not match regex "
                            f"pattern '{RUN_ID_PATTERN}'")
    conf = body.conf if body.conf is not None else {}
    check_json_body(conf, "conf")
    check_json_size(conf, "conf", MAX_CONF_BYTES)
    check_json_body(body.note, "note")
    try:
        run = await ctx.operations.trigger_run(
            dag_id, conf=conf, logical_date=body.logical_date, run_id=body.dag_run_id,
            note=body.note, user=principal.username, triggered_by="rest_api",
            allow_paused=True, partition_key=body.partition_key)
    except (InvalidParams, InvalidConf) as exc:
        raise ApiError(400, exc.message) from None  # Airflow: ParamValidationError → 400
    return await run_response(ctx, run)


@router.patch("/dagRuns/{dag_run_id}", response_model=DAGRunResponse)
async def patch_dag_run(
    dag_id: str, dag_run_id: str, body: DAGRunPatchBody,
    update_mask: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> DAGRunResponse:
    """Mark the run ``success``/``failed`` (its unfinished tasks follow) or ``queued``, and
    set its note. With ``update_mask`` only the named fields change."""
    run = await require_run(ctx, dag_id, dag_run_id, principal)
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    if "note" in fields:
        check_json_body(body.note, "note")
    if "state" in fields and body.state is not None:
        if body.state == "queued":
            await run_edits.requeue_run(ctx.operations, run, user=principal.username)
        else:
            await ctx.operations.mark_run(dag_id, dag_run_id, body.state.value,
                                          user=principal.username)
    if "note" in fields:
        await run_edits.set_run_note(ctx.operations, run, body.note, user=principal.username)
    return await fresh_run_response(ctx, dag_id, dag_run_id)


@router.delete("/dagRuns/{dag_run_id}", status_code=204, response_class=Response)
async def delete_dag_run(dag_id: str, dag_run_id: str, ctx: ApiContext = Depends(api_context),
                         principal: Principal = Depends(require(EDIT_RUNS))) -> Response:
    """Delete the run with its task instances, tries and XComs (in-flight tries stop)."""
    await require_run(ctx, dag_id, dag_run_id, principal)
    await ctx.operations.delete_run(dag_id, dag_run_id, user=principal.username)
    return Response(status_code=204)


@router.post("/dagRuns/{dag_run_id}/clear",
             response_model=TaskInstanceCollectionResponse | DAGRunResponse)
async def clear_dag_run(
    dag_id: str, dag_run_id: str, body: DAGRunClearBody,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> TaskInstanceCollectionResponse | DAGRunResponse:
    """Clear every task instance of the run (``only_failed``: the failed ones). A dry run
    (the default) lists what would be cleared; otherwise the run, queued again."""
    await require_run(ctx, dag_id, dag_run_id, principal)
    if body.only_new:
        raise ApiError(400, "only_new is not supported: clearing re-pins the run to the "
                            "DAG's latest version, which adds its new tasks")
    if body.dry_run:
        tis = await ctx.operations.clear_task_instances(
            dag_id, dag_run_id, None, only_failed=body.only_failed, dry_run=True)
        return await ti_collection(ctx, tis)
    await ctx.operations.clear_task_instances(dag_id, dag_run_id, None,
                                              only_failed=body.only_failed,
                                              user=principal.username)
    return await fresh_run_response(ctx, dag_id, dag_run_id)
