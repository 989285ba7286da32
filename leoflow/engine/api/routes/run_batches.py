"""Airflow's ``POST …/dagRuns/list`` and ``POST …/taskInstances/list`` (the listing filters in
a body, several DAGs and runs at once), a task instance's ``…/dependencies`` (why it does
not run now, from the scheduler's reasons) and ``GET …/dagRuns/{id}/wait`` (stream the
run's state until it ends).

The batch lists answer exactly what the ``GET`` listings answer for each DAG (and run),
merged in the requested order: they call the same listing code, so filters, tenants and
ordering rules are the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import NotFound
from leoflow.engine.api.models.common import Page, QueryDateTime, no_nul
from leoflow.engine.api.models.dag_runs import DAGRunCollectionResponse
from leoflow.engine.api.models.task_instances import TaskInstanceCollectionResponse
from leoflow.engine.api.routes import dag_runs, task_instances
from leoflow.engine.api.routes.dags import spec_cache
from leoflow.engine.api.routes.task_instance_paths import TIS, MapIndex, ti_not_found
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.masking.values import tenant_masker
from leoflow.engine.services import run_listing, ti_dependencies
from leoflow.engine.services.rows import DagRunRow

router = APIRouter(prefix="/api/v2/dags/{dag_id}", dependencies=[Depends(no_nul)])
ALL = "~"
FINISHED_RUN = ("success", "failed")
MAX_BATCH = 1000  # items merged per DAG (and run) for one page


class _Ranges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page_offset: int = Field(0, ge=0)
    page_limit: int = Field(100, ge=0)
    order_by: str | None = None
    run_after_gte: QueryDateTime | None = None
    run_after_gt: QueryDateTime | None = None
    run_after_lte: QueryDateTime | None = None
    run_after_lt: QueryDateTime | None = None
    logical_date_gte: QueryDateTime | None = None
    logical_date_gt: QueryDateTime | None = None
    logical_date_lte: QueryDateTime | None = None
    logical_date_lt: QueryDateTime | None = None
    start_date_gte: QueryDateTime | None = None
    start_date_gt: QueryDateTime | None = None
    start_date_lte: QueryDateTime | None = None
    start_date_lt: QueryDateTime | None = None
    end_date_gte: QueryDateTime | None = None
    end_date_gt: QueryDateTime | None = None
    end_date_lte: QueryDateTime | None = None
    end_date_lt: QueryDateTime | None = None
    duration_gte: float | None = None
    duration_gt: float | None = None
    duration_lte: float | None = None
    duration_lt: float | None = None

    def dates(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in type(self).model_fields
                if k.split("_")[0] in ("run", "logical", "start", "end")}


class DAGRunsBatchBody(_Ranges):
    dag_ids: list[str] | None = None
    states: list[dag_runs.RunStateQuery | None] | None = None
    conf_contains: str | None = None


class TaskInstancesBatchBody(_Ranges):
    dag_ids: list[str] | None = None
    dag_run_ids: list[str] | None = None
    task_ids: list[str] | None = None
    state: list[task_instances.StateQuery | None] | None = None
    pool: list[str] | None = None
    queue: list[str] | None = None
    executor: list[str] | None = None


def _page(offset: int, limit: int) -> Page:
    page = Page(limit=0, offset=0)
    page.limit, page.offset = min(limit, MAX_BATCH), offset
    return page


def _merge(items: list[Any], order: str | None, default: str) -> list[Any]:
    field = (order or default).lstrip("-")

    def key(item: Any) -> tuple[bool, Any]:
        value = getattr(item, field, None)
        return value is None, value if isinstance(value, int | float | datetime) else str(value)

    return sorted(items, key=key, reverse=(order or "").startswith("-"))


def _targets(path_value: str, body_values: list[str] | None) -> list[str]:
    if path_value != ALL:
        return [path_value]
    return list(dict.fromkeys(body_values)) if body_values else [ALL]


@router.post("/dagRuns/list", response_model=DAGRunCollectionResponse, tags=["DagRun"])
async def get_list_dag_runs_batch(dag_id: str, body: DAGRunsBatchBody,
                                  ctx: ApiContext = Depends(api_context),
                                  principal: Principal = Depends(require(READ))
                                  ) -> DAGRunCollectionResponse:
    """The runs of ``dag_ids`` (the path's ``dag_id`` must be ``~`` for several)."""
    wanted = _targets(dag_id, body.dag_ids)
    states = [s for s in body.states or () if s is not None] or None
    order = [body.order_by] if body.order_by else None
    items: list[Any] = []
    total = 0
    for one in wanted:
        found = await dag_runs.get_dag_runs(
            one, _page(0, body.page_offset + body.page_limit),
            dag_runs.RunRanges(**body.dates()), state=states, run_type=None,
            run_id_pattern=None, dag_id_pattern=None, triggering_user_name_pattern=None,
            order_by=order, ctx=ctx, principal=principal)
        items += found.dag_runs
        total += found.total_entries or 0
    if body.conf_contains:
        items = [r for r in items if body.conf_contains in json.dumps(r.conf or {})]
        total = len(items)
    merged = _merge(items, body.order_by, "id") if len(wanted) > 1 else items
    return DAGRunCollectionResponse(
        dag_runs=merged[body.page_offset:body.page_offset + body.page_limit],
        total_entries=total)


@router.post("/dagRuns/{dag_run_id}/taskInstances/list",
             response_model=TaskInstanceCollectionResponse, tags=["Task Instance"])
async def get_task_instances_batch(dag_id: str, dag_run_id: str, body: TaskInstancesBatchBody,
                                   ctx: ApiContext = Depends(api_context),
                                   principal: Principal = Depends(require(READ))
                                   ) -> TaskInstanceCollectionResponse:
    """The task instances of ``dag_ids`` by ``dag_run_ids`` (``~`` in the path for several)."""
    dates = body.dates()
    durations = {k: getattr(body, k) for k in ("duration_gte", "duration_gt", "duration_lte",
                                               "duration_lt")}
    filters = task_instances.TIFilters(
        state=[s or "no_status" for s in body.state] if body.state else None,
        pool=body.pool, queue=body.queue, executor=body.executor,
        order_by=[body.order_by] if body.order_by else None, **dates, **durations)
    filters.task_ids = body.task_ids
    items: list[Any] = []
    total = 0
    pairs = [(d, r) for d in _targets(dag_id, body.dag_ids)
             for r in _targets(dag_run_id, body.dag_run_ids)]
    for one_dag, one_run in pairs:
        found = await task_instances.get_task_instances(
            one_dag, one_run, _page(0, body.page_offset + body.page_limit), filters,
            ctx=ctx, principal=principal)
        items += found.task_instances
        total += found.total_entries or 0
    merged = _merge(items, body.order_by, "map_index") if len(pairs) > 1 else items
    return TaskInstanceCollectionResponse(
        task_instances=merged[body.page_offset:body.page_offset + body.page_limit],
        total_entries=total)


class TaskDependencyResponse(BaseModel):
    name: str
    reason: str


class TaskDependencyCollectionResponse(BaseModel):
    dependencies: list[TaskDependencyResponse]


async def _dependencies(ctx: ApiContext, principal: Principal, dag_id: str, run_id: str,
                        task_id: str, map_index: int) -> TaskDependencyCollectionResponse:
    found = await ti_dependencies.dependencies(
        ctx.store, ctx.xcom, dag_id, run_id, task_id, map_index, tenant=principal.tenant,
        spec_of=spec_cache(ctx).get)
    if found is None:
        raise ti_not_found(dag_id, run_id, task_id, map_index)
    return TaskDependencyCollectionResponse(dependencies=[
        TaskDependencyResponse(name=d.name, reason=d.reason) for d in found])


@router.get(TIS + "/{task_id}/dependencies", response_model=TaskDependencyCollectionResponse,
            tags=["Task Instance"])
async def get_task_instance_dependencies(
    dag_id: str, dag_run_id: str, task_id: str, map_index: MapIndex = -1,
    ctx: ApiContext = Depends(api_context), principal: Principal = Depends(require(READ)),
) -> TaskDependencyCollectionResponse:
    """What keeps the instance from running now (empty once it runs or has ended)."""
    return await _dependencies(ctx, principal, dag_id, dag_run_id, task_id, map_index)


@router.get(TIS + "/{task_id}/{map_index:signed_int}/dependencies",
            response_model=TaskDependencyCollectionResponse, tags=["Task Instance"])
async def get_task_instance_dependencies_by_map_index(
    dag_id: str, dag_run_id: str, task_id: str, map_index: MapIndex,
    ctx: ApiContext = Depends(api_context), principal: Principal = Depends(require(READ)),
) -> TaskDependencyCollectionResponse:
    return await _dependencies(ctx, principal, dag_id, dag_run_id, task_id, map_index)


@router.get("/dagRuns/{dag_run_id}/wait", tags=["DagRun", "experimental"],
            responses={200: {"content": {"application/x-ndjson": {
                "schema": {"type": "string"}}}}})
async def wait_dag_run_until_finished(
    request: Request, dag_id: str, dag_run_id: str,
    interval: Annotated[float, Query(gt=0, le=3600)],
    result: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context), principal: Principal = Depends(require(READ)),
) -> Response:
    """NDJSON: ``{"state": …}`` every ``interval`` seconds until the run ends; the last
    line carries ``results`` (the ``return_value`` XCom of each task of ``result``). A
    caller that asks for ``application/json`` first (the official client does, and cannot
    read NDJSON) gets that last line alone, once the run has ended."""
    run = await run_listing.find_visible_run(ctx.store, dag_id, dag_run_id,
                                             tenant=principal.tenant)
    if run is None:
        raise NotFound(f"The DagRun with dag_id: `{dag_id}` and run_id: `{dag_run_id}` "
                       "was not found")

    async def states() -> AsyncIterator[dict[str, Any]]:
        current: DagRunRow | None = run
        while current is not None and current.state not in FINISHED_RUN:
            yield {"state": current.state}
            await asyncio.sleep(interval)
            current = await run_listing.find_visible_run(ctx.store, dag_id, dag_run_id,
                                                         tenant=principal.tenant)
        if current is None:
            yield {"state": "deleted"}
            return
        final: dict[str, Any] = {"state": current.state}
        if result:
            masker = await tenant_masker(ctx.auth, principal.tenant)
            values = {}
            for task_id in result:
                stored = await ctx.xcom.get(current.id, task_id)
                if stored is not None:
                    values[task_id] = masker.redact_value(stored.value)
            final["results"] = values
        yield final

    if (request.headers.get("accept") or "").startswith("application/json"):
        seen = [item async for item in states()]
        return JSONResponse(seen[-1])

    async def lines() -> AsyncIterator[str]:
        async for item in states():
            yield json.dumps(item) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
