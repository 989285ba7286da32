"""Airflow ``/api/v2`` task instances, read: list (``~`` for DAG and run), get, mapped
instances, and tries.

State and note changes and ``clearTaskInstances`` are in ``task_instance_changes``; the
paths and the signed map-index converter both use are in ``task_instance_paths``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import NotFound
from leoflow.engine.api.models.common import (
    INT32_MAX,
    INT32_MIN,
    CursorPage,
    FiniteFloat,
    Int32,
    Page,
    QueryDateTime,
    no_nul,
    order_list,
)
from leoflow.engine.api.models.convert import (
    DEFAULT_QUEUE,
    current_try_response,
    task_of,
    try_response,
)
from leoflow.engine.api.models.task_instances import (
    TaskInstanceCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
)
from leoflow.engine.api.routes.dag_runs import (
    ALL,
    date_range,
    require_run,
    responses_of_tis,
    ti_collection,
)
from leoflow.engine.api.routes.dags import bad_order, require_dag, spec_cache
from leoflow.engine.api.routes.task_instance_paths import (
    TIS,
    MapIndex,
    TryNumber,
    ti_not_found,
)
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import task_instance_reads
from leoflow.engine.services.rows import Range, UnknownOrderField

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["Task Instance"],
                   dependencies=[Depends(no_nul)])
StateQuery = Literal["removed", "scheduled", "queued", "running", "success", "restarting",
                     "failed", "up_for_retry", "up_for_reschedule", "upstream_failed",
                     "skipped", "deferred", "no_status", "none"]


# -- listing -----------------------------------------------------------------------------------
class TIFilters:
    """Airflow's task-instance list filters (those that Leoflow stores)."""

    def __init__(
        self,
        task_id: str | None = None,
        state: Annotated[list[StateQuery] | None, Query()] = None,
        pool: Annotated[list[str] | None, Query()] = None,
        queue: Annotated[list[str] | None, Query()] = None,
        executor: Annotated[list[str] | None, Query()] = None,
        operator: Annotated[list[str] | None, Query()] = None,
        try_number: Annotated[list[Int32] | None, Query()] = None,
        map_index: Annotated[list[Int32] | None, Query()] = None,
        version_number: Annotated[list[Int32] | None, Query()] = None,
        dag_id_pattern: str | None = None,
        run_id_pattern: str | None = None,
        task_display_name_pattern: str | None = None,
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
        duration_gte: FiniteFloat | None = None,
        duration_gt: FiniteFloat | None = None,
        duration_lte: FiniteFloat | None = None,
        duration_lt: FiniteFloat | None = None,
        order_by: Annotated[list[str] | None, Query()] = None,
    ) -> None:
        self.task_ids = [task_id] if task_id is not None else None
        self.state = None if not state else [
            None if s in ("no_status", "none") else s for s in state]
        self.pool, self.executor, self.operator = pool, executor, operator
        # Every Leoflow task instance is in Airflow's default queue.
        self.nothing = bool(queue) and DEFAULT_QUEUE not in (queue or [])
        self.try_number, self.map_index, self.version_number = try_number, map_index, \
            version_number
        self.dag_id_pattern, self.run_id_pattern = dag_id_pattern, run_id_pattern
        self.task_id_pattern = task_display_name_pattern
        ranges = {
            "run_after": date_range(run_after_gte, run_after_gt, run_after_lte, run_after_lt),
            "logical_date": date_range(logical_date_gte, logical_date_gt, logical_date_lte,
                                       logical_date_lt),
            "start_date": date_range(start_date_gte, start_date_gt, start_date_lte,
                                     start_date_lt),
            "end_date": date_range(end_date_gte, end_date_gt, end_date_lte, end_date_lt),
            "duration": Range(duration_gte, duration_gt, duration_lte, duration_lt),
        }
        self.ranges = {k: v for k, v in ranges.items() if not v.is_open()}
        self.order = order_list(order_by, "map_index")


async def _list(ctx: ApiContext, principal: Principal, page: Page,
                filters: TIFilters, *, dag_id: str | None, run_id: str | None,
                task_ids: list[str] | None = None,
                mapped_only: bool = False) -> TaskInstanceCollectionResponse:
    if filters.nothing:
        return TaskInstanceCollectionResponse(task_instances=[], total_entries=0)
    order = filters.order
    if order == ["map_index"]:  # Airflow's default; keep a run's tasks together as well
        order = ["run_after", "task_id", "map_index"]
    query = task_instance_reads.TaskInstanceFilters(
        task_ids=filters.task_ids if task_ids is None else task_ids,
        state=filters.state, pool=filters.pool, executor=filters.executor,
        operator=filters.operator, try_number=filters.try_number,
        map_index=filters.map_index, version_number=filters.version_number,
        dag_id_pattern=filters.dag_id_pattern, run_id_pattern=filters.run_id_pattern,
        task_id_pattern=filters.task_id_pattern, ranges=filters.ranges, order=order)
    try:
        result, links = await task_instance_reads.page_of_task_instances(
            ctx.store, tenant=principal.tenant, dag_id=dag_id, run_id=run_id, filters=query,
            mapped_only=mapped_only, limit=page.limit, offset=page.offset)
    except UnknownOrderField as exc:
        raise bad_order(exc) from None
    collection = responses_of_tis(ctx, result.items, links)
    collection.total_entries = result.total
    if isinstance(page, CursorPage):
        cursors = page.links(result.total)
        collection.next_cursor = cursors["next_cursor"]
        collection.previous_cursor = cursors["previous_cursor"]
    return collection


@router.get(TIS, response_model=TaskInstanceCollectionResponse)
async def get_task_instances(
    dag_id: str, dag_run_id: str,
    page: Annotated[Page, Depends(CursorPage)],
    filters: Annotated[TIFilters, Depends()],
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> TaskInstanceCollectionResponse:
    """Task instances of a run; ``~`` as ``dag_id`` and/or ``dag_run_id`` lists across DAGs
    and runs. Mapped tasks appear once per map index."""
    if dag_run_id != ALL and not await task_instance_reads.run_exists(
            ctx.store, tenant=principal.tenant, run_id=dag_run_id,
            dag_id=None if dag_id == ALL else dag_id):
        raise NotFound(f"DagRun with run_id: `{dag_run_id}` was not found")
    if dag_id != ALL:
        await require_dag(ctx, dag_id, principal)
    return await _list(ctx, principal, page, filters,
                       dag_id=None if dag_id == ALL else dag_id,
                       run_id=None if dag_run_id == ALL else dag_run_id)


@router.get(TIS + "/{task_id}", response_model=TaskInstanceResponse)
async def get_task_instance(dag_id: str, dag_run_id: str, task_id: str,
                            ctx: ApiContext = Depends(api_context),
                            principal: Principal = Depends(require(READ))
                            ) -> TaskInstanceResponse:
    """The unmapped instance (map index -1) of a task."""
    run, ti = await task_instance_reads.instance(ctx.store, dag_id, dag_run_id, task_id, -1,
                                                 tenant=principal.tenant)
    if ti is None:
        if run is not None and await task_instance_reads.has_instances(ctx.store, run,
                                                                       task_id):
            raise NotFound("Task instance is mapped, add the map_index value to the URL")
        raise NotFound(f"The Task Instance with dag_id: `{dag_id}`, run_id: "
                       f"`{dag_run_id}` and task_id: `{task_id}` was not found")
    return (await ti_collection(ctx, [ti])).task_instances[0]


@router.get(TIS + "/{task_id}/listMapped", response_model=TaskInstanceCollectionResponse)
async def get_mapped_task_instances(
    dag_id: str, dag_run_id: str, task_id: str,
    page: Annotated[Page, Depends()],
    filters: Annotated[TIFilters, Depends()],
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> TaskInstanceCollectionResponse:
    """The expanded instances (map index 0…n-1) of a mapped task."""
    run = await require_run(ctx, dag_id, dag_run_id, principal)
    result = await _list(ctx, principal, page, filters, dag_id=dag_id,
                         run_id=dag_run_id, task_ids=[task_id], mapped_only=True)
    if result.total_entries == 0 and not filters.map_index:
        version = await task_instance_reads.version_of_run(ctx.store, run)
        task = task_of(spec_cache(ctx).get(version), task_id)
        if task is None:
            raise NotFound(f"Task id {task_id} not found")
        if not task.is_mapped:
            raise NotFound(f"Task id {task_id} is not mapped")
    return result


async def _tries(ctx: ApiContext, principal: Principal, dag_id: str,
                 run_id: str, task_id: str, map_index: int
                 ) -> list[TaskInstanceHistoryResponse]:
    """Every try of an instance, oldest first: the recorded ones, then the live row when
    its try is not recorded yet (running, or never queued: try 0)."""
    found = await task_instance_reads.tries(ctx.store, dag_id, run_id, task_id, map_index,
                                            tenant=principal.tenant)
    if found is None:
        raise ti_not_found(dag_id, run_id, task_id, map_index)
    ti, history, version = found.live, found.history, found.version
    spec = spec_cache(ctx).get(version)
    slots = ti.pool_slots if ti else 1
    weight = ti.priority_weight if ti else None
    out = [try_response(h, slots, weight, spec, version) for h in history]
    if ti is not None and ti.try_number not in {h.try_number for h in history}:
        out.append(current_try_response(ti, spec, version))
    if not out:
        raise ti_not_found(dag_id, run_id, task_id, map_index)
    return out


@router.get(TIS + "/{task_id}/tries", response_model=TaskInstanceHistoryCollectionResponse)
async def get_task_instance_tries(
    dag_id: str, dag_run_id: str, task_id: str,
    map_index: Annotated[int, Query(ge=INT32_MIN, le=INT32_MAX)] = -1,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> TaskInstanceHistoryCollectionResponse:
    tries = await _tries(ctx, principal, dag_id, dag_run_id, task_id, map_index)
    return TaskInstanceHistoryCollectionResponse(task_instances=tries,
                                                 total_entries=len(tries))


@router.get(TIS + "/{task_id}/tries/{task_try_number}",
            response_model=TaskInstanceHistoryResponse)
async def get_task_instance_try_details(
    dag_id: str, dag_run_id: str, task_id: str, task_try_number: TryNumber,
    map_index: Annotated[int, Query(ge=INT32_MIN, le=INT32_MAX)] = -1,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> TaskInstanceHistoryResponse:
    try:
        tries = await _tries(ctx, principal, dag_id, dag_run_id, task_id, map_index)
    except NotFound:
        tries = []
    for item in tries:
        if item.try_number == task_try_number:
            return item
    raise NotFound(f"The Task Instance with dag_id: `{dag_id}`, run_id: `{dag_run_id}`, "
                   f"task_id: `{task_id}`, try_number: `{task_try_number}` and map_index: "
                   f"`{map_index}` was not found")


@router.get(TIS + "/{task_id}/{map_index:signed_int}/tries",
            response_model=TaskInstanceHistoryCollectionResponse)
async def get_mapped_task_instance_tries(
    dag_id: str, dag_run_id: str, task_id: str, map_index: MapIndex,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> TaskInstanceHistoryCollectionResponse:
    return await get_task_instance_tries(dag_id, dag_run_id, task_id, map_index, ctx,
                                         principal)


@router.get(TIS + "/{task_id}/{map_index:signed_int}/tries/{task_try_number}",
            response_model=TaskInstanceHistoryResponse)
async def get_mapped_task_instance_try_details(
    dag_id: str, dag_run_id: str, task_id: str, map_index: MapIndex,
    task_try_number: TryNumber,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> TaskInstanceHistoryResponse:
    return await get_task_instance_try_details(dag_id, dag_run_id, task_id, task_try_number,
                                               map_index, ctx, principal)


@router.get(TIS + "/{task_id}/{map_index:signed_int}", response_model=TaskInstanceResponse)
async def get_mapped_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, map_index: MapIndex,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> TaskInstanceResponse:
    """One instance by map index; ``-1`` is the unmapped instance (as Airflow's UI asks)."""
    _, ti = await task_instance_reads.instance(ctx.store, dag_id, dag_run_id, task_id,
                                               map_index, tenant=principal.tenant)
    if ti is None:
        raise NotFound(f"The Mapped Task Instance with dag_id: `{dag_id}`, run_id: "
                       f"`{dag_run_id}`, task_id: `{task_id}`, and map_index: "
                       f"`{map_index}` was not found")
    return (await ti_collection(ctx, [ti])).task_instances[0]
