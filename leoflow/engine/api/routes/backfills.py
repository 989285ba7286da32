"""Airflow ``/api/v2/backfills``: create (and its dry run), list, get, pause, unpause, cancel.

The rules are ``services.backfills``'. A backfill goes on by itself: when one of its runs
ends, the scheduler's listener (registered by the composition root) starts the next dates;
every backfill request also lets open backfills catch up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.models.common import (
    INT32_MAX,
    ApiModel,
    BodyDateTime,
    BodyModel,
    Page,
    no_nul,
)
from leoflow.engine.api.models.convert import display_name
from leoflow.engine.api.routes.dags import spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import EDIT_RUNS, READ, Principal
from leoflow.engine.services import backfills, dag_listing

router = APIRouter(prefix="/api/v2/backfills", tags=["Backfill"],
                   dependencies=[Depends(no_nul)])
BackfillId = Annotated[int, Path(ge=0, le=INT32_MAX)]


class BackfillPostBody(BodyModel):
    dag_id: str
    from_date: BodyDateTime
    to_date: BodyDateTime
    run_backwards: bool = False
    dag_run_conf: dict[str, Any] | None = None
    reprocess_behavior: Literal["none", "failed", "completed"] = "none"
    max_active_runs: int = 10
    run_on_latest_version: bool | None = None


class BackfillResponse(ApiModel):
    id: int
    dag_id: str
    dag_display_name: str
    from_date: datetime
    to_date: datetime
    dag_run_conf: dict[str, Any] | None = None
    is_paused: bool
    reprocess_behavior: Literal["none", "failed", "completed"]
    max_active_runs: int
    created_at: datetime
    completed_at: datetime | None = None
    updated_at: datetime


class BackfillCollectionResponse(ApiModel):
    backfills: list[BackfillResponse]
    total_entries: int


class DryRunBackfillResponse(ApiModel):
    logical_date: datetime | None = None
    partition_key: str | None = None
    partition_date: datetime | None = None


class DryRunBackfillCollectionResponse(ApiModel):
    backfills: list[DryRunBackfillResponse]
    total_entries: int


async def _keep_going(ctx: ApiContext, dag_id: str | None = None) -> None:
    """Let open backfills (of ``dag_id``) start what they may: a run that ended while no
    scheduler heard it (a restart, a hand-over) does not leave them waiting."""
    await backfills.feed_dag(ctx.operations, ctx.store, dag_id)


async def _response(ctx: ApiContext, found: backfills.Backfill) -> BackfillResponse:
    spec = spec_cache(ctx).get(await dag_listing.current_version(ctx.store, found.dag_id))
    behavior: Literal["none", "failed", "completed"] = (
        "failed" if found.reprocess_behavior == "failed"
        else "completed" if found.reprocess_behavior == "completed" else "none")
    return BackfillResponse(
        id=found.id, dag_id=found.dag_id, dag_display_name=display_name(found.dag_id, spec),
        from_date=found.from_date, to_date=found.to_date, dag_run_conf=found.dag_run_conf,
        is_paused=found.is_paused, reprocess_behavior=behavior,
        max_active_runs=found.max_active_runs, created_at=found.created_at,
        completed_at=found.completed_at, updated_at=found.updated_at)


@router.get("", response_model=BackfillCollectionResponse)
async def list_backfills(dag_id: str, page: Annotated[Page, Depends()],
                         order_by: str = "id", ctx: ApiContext = Depends(api_context),
                         principal: Principal = Depends(require(READ))
                         ) -> BackfillCollectionResponse:
    await _keep_going(ctx, dag_id)
    found, total = await backfills.page(ctx.store, tenant=principal.tenant, dag_id=dag_id,
                                        active=None, order=order_by, limit=page.limit,
                                        offset=page.offset)
    return BackfillCollectionResponse(backfills=[await _response(ctx, b) for b in found],
                                      total_entries=total)


@router.post("", response_model=BackfillResponse)
async def create_backfill(body: BackfillPostBody, ctx: ApiContext = Depends(api_context),
                          principal: Principal = Depends(require(EDIT_RUNS))
                          ) -> BackfillResponse:
    """Runs for the DAG's logical dates from ``from_date`` to ``to_date``; the first
    ``max_active_runs`` start at once, the others as those end."""
    await _keep_going(ctx, body.dag_id)
    found = await backfills.create(
        ctx.operations, ctx.store, tenant=principal.tenant, dag_id=body.dag_id,
        from_date=body.from_date, to_date=body.to_date, conf=body.dag_run_conf,
        reprocess=body.reprocess_behavior, max_active_runs=body.max_active_runs,
        run_backwards=body.run_backwards, user=principal.username)
    return await _response(ctx, found)


@router.post("/dry_run", response_model=DryRunBackfillCollectionResponse)
async def create_backfill_dry_run(body: BackfillPostBody,
                                  ctx: ApiContext = Depends(api_context),
                                  principal: Principal = Depends(require(EDIT_RUNS))
                                  ) -> DryRunBackfillCollectionResponse:
    """The logical dates a backfill would run, in the order it would start them."""
    dates = await backfills.dry_run(
        ctx.store, tenant=principal.tenant, dag_id=body.dag_id, from_date=body.from_date,
        to_date=body.to_date, reprocess=body.reprocess_behavior,
        run_backwards=body.run_backwards)
    return DryRunBackfillCollectionResponse(
        backfills=[DryRunBackfillResponse(logical_date=d) for d in dates],
        total_entries=len(dates))


@router.get("/{backfill_id}", response_model=BackfillResponse)
async def get_backfill(backfill_id: BackfillId, ctx: ApiContext = Depends(api_context),
                       principal: Principal = Depends(require(READ))) -> BackfillResponse:
    found = await backfills.get(ctx.store, backfill_id, tenant=principal.tenant)
    await _keep_going(ctx, found.dag_id)
    return await _response(ctx, await backfills.get(ctx.store, backfill_id,
                                                    tenant=principal.tenant))


@router.put("/{backfill_id}/pause", response_model=BackfillResponse)
async def pause_backfill(backfill_id: BackfillId, ctx: ApiContext = Depends(api_context),
                         principal: Principal = Depends(require(EDIT_RUNS))
                         ) -> BackfillResponse:
    """Start no new run (those started go on); 409 once completed."""
    return await _response(ctx, await backfills.set_paused(
        ctx.operations, ctx.store, backfill_id, True, tenant=principal.tenant))


@router.put("/{backfill_id}/unpause", response_model=BackfillResponse)
async def unpause_backfill(backfill_id: BackfillId, ctx: ApiContext = Depends(api_context),
                           principal: Principal = Depends(require(EDIT_RUNS))
                           ) -> BackfillResponse:
    return await _response(ctx, await backfills.set_paused(
        ctx.operations, ctx.store, backfill_id, False, tenant=principal.tenant))


@router.put("/{backfill_id}/cancel", response_model=BackfillResponse)
async def cancel_backfill(backfill_id: BackfillId, ctx: ApiContext = Depends(api_context),
                          principal: Principal = Depends(require(EDIT_RUNS))
                          ) -> BackfillResponse:
    """Complete it now: its queued runs are marked failed, running ones finish."""
    return await _response(ctx, await backfills.cancel(
        ctx.operations, ctx.store, backfill_id, tenant=principal.tenant,
        user=principal.username))
