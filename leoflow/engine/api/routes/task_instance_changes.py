"""Airflow ``/api/v2`` task instances, changed: mark a state and/or set a note (``PATCH``,
with its dry run) and ``clearTaskInstances`` with all its options.

The routes select the instances (``models.selection``) and hand each change to
``Operations`` (marking, clearing), which owns the transaction and wakes the scheduler.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.common import INT32_MAX, INT32_MIN, check_json_body, no_nul
from leoflow.engine.api.models.selection import (
    clear_candidates,
    marking_targets,
    runs_to_clear,
)
from leoflow.engine.api.models.task_instances import (
    ClearTaskInstancesBody,
    PatchTaskInstanceBody,
    TaskInstanceCollectionResponse,
)
from leoflow.engine.api.routes.dag_runs import ti_collection, ti_responses, visible_run
from leoflow.engine.api.routes.dags import visible_dag
from leoflow.engine.api.routes.task_instance_paths import TIS, MapIndex, spec_of, ti_not_found
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import EDIT_RUNS, Principal
from leoflow.engine.services import run_edits, run_listing
from leoflow.engine.services.reads import read
from leoflow.engine.services.rows import DagRunRow, TaskInstanceRow

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["Task Instance"],
                   dependencies=[Depends(no_nul)])


# -- marking -----------------------------------------------------------------------------------
def _fields(body: PatchTaskInstanceBody, update_mask: list[str] | None) -> set[str]:
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    return fields


async def _patch(ctx: ApiContext, principal: Principal, dag_id: str, dag_run_id: str,
                 task_id: str, map_index: int | None, body: PatchTaskInstanceBody,
                 update_mask: list[str] | None, *, dry_run: bool
                 ) -> TaskInstanceCollectionResponse:
    fields = _fields(body, update_mask)
    if "note" in fields:
        check_json_body(body.note, "note")

    async def select(conn: AsyncConnection
                     ) -> tuple[list[TaskInstanceRow], list[TaskInstanceRow],
                                TaskInstanceCollectionResponse | None]:
        """(own, targets, the dry run's answer) on one read snapshot."""
        try:
            _, run = await visible_run(conn, dag_id, dag_run_id, principal)
        except NotFound:
            raise ti_not_found(dag_id, dag_run_id, task_id, map_index) from None
        own = await run_listing.instances_of_run(conn, run, task_id)
        if map_index is not None:
            own = [t for t in own if t.map_index == map_index]
        if not own:
            raise ti_not_found(dag_id, dag_run_id, task_id, map_index)
        targets = await marking_targets(conn, principal.tenant, run,
                                        await spec_of(ctx, conn, run), own, task_id,
                                        map_index, body)
        if dry_run:
            return own, targets, await ti_responses(ctx, conn, targets if new_state else own)
        return own, targets, None

    new_state = body.new_state if "new_state" in fields else None
    own, targets, preview = await read(ctx.store, select)
    if preview is not None:
        return preview
    if new_state is not None:
        if not targets:
            raise ApiError(409, f"Task id {task_id} is already in {new_state} state")
        for ti in targets:
            await ctx.operations.mark_task_instance(
                ti.dag_id, ti.run_id, ti.task_id, new_state, map_index=ti.map_index,
                user=principal.username)
    if "note" in fields:
        await run_edits.set_task_notes(ctx.operations, own, body.note,
                                       user=principal.username)
    fresh = await read(ctx.store, run_listing.instances_by_id, [ti.id for ti in own])
    return await ti_collection(ctx, [t for t in fresh if t is not None])


@router.patch(TIS + "/{task_id}", response_model=TaskInstanceCollectionResponse)
async def patch_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, body: PatchTaskInstanceBody,
    map_index: Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)] = None,
    update_mask: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> TaskInstanceCollectionResponse:
    """Mark a task's instances ``success``, ``failed`` or ``skipped`` (with upstream,
    downstream, past and future ones if asked) and/or set their note."""
    return await _patch(ctx, principal, dag_id, dag_run_id, task_id, map_index, body,
                        update_mask, dry_run=False)


@router.patch(TIS + "/{task_id}/dry_run", response_model=TaskInstanceCollectionResponse)
async def patch_task_instance_dry_run(
    dag_id: str, dag_run_id: str, task_id: str, body: PatchTaskInstanceBody,
    map_index: Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)] = None,
    update_mask: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> TaskInstanceCollectionResponse:
    """The instances a patch would change, changing nothing."""
    return await _patch(ctx, principal, dag_id, dag_run_id, task_id, map_index, body,
                        update_mask, dry_run=True)


@router.patch(TIS + "/{task_id}/{map_index:signed_int}",
              response_model=TaskInstanceCollectionResponse)
async def patch_task_instance_by_map_index(
    dag_id: str, dag_run_id: str, task_id: str, map_index: MapIndex,
    body: PatchTaskInstanceBody,
    update_mask: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> TaskInstanceCollectionResponse:
    return await _patch(ctx, principal, dag_id, dag_run_id, task_id, map_index, body,
                        update_mask, dry_run=False)


@router.patch(TIS + "/{task_id}/{map_index:signed_int}/dry_run",
              response_model=TaskInstanceCollectionResponse)
async def patch_task_instance_dry_run_by_map_index(
    dag_id: str, dag_run_id: str, task_id: str, map_index: MapIndex,
    body: PatchTaskInstanceBody,
    update_mask: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> TaskInstanceCollectionResponse:
    return await _patch(ctx, principal, dag_id, dag_run_id, task_id, map_index, body,
                        update_mask, dry_run=True)


# -- clearing ----------------------------------------------------------------------------------
async def _clear_exactly(ctx: ApiContext, run: DagRunRow, tis: list[TaskInstanceRow],
                         user: str) -> list[TaskInstanceRow]:
    """Clear exactly these instances: tasks cleared whole in one operation, tasks cleared
    for some map indexes only in one operation each. Returns the rows as cleared."""
    cleared: list[TaskInstanceRow] = []
    existing = await read(ctx.store, run_listing.instances_of_run, run)
    all_indexes: dict[str, set[int]] = defaultdict(set)
    for ti in existing:
        all_indexes[ti.task_id].add(ti.map_index)
    wanted: dict[str, set[int]] = defaultdict(set)
    for ti in tis:
        wanted[ti.task_id].add(ti.map_index)
    whole = sorted(t for t, idx in wanted.items() if idx == all_indexes[t])
    if whole:
        cleared += await ctx.operations.clear_task_instances(
            run.dag_id, run.run_id, whole, user=user, exact=True)
    for task_id, indexes in sorted(wanted.items()):
        if task_id not in whole:
            cleared += await ctx.operations.clear_task_instances(
                run.dag_id, run.run_id, [task_id], map_indexes=sorted(indexes), user=user,
                exact=True)
    return cleared


@router.post("/clearTaskInstances", response_model=TaskInstanceCollectionResponse)
async def post_clear_task_instances(
    dag_id: str, body: ClearTaskInstancesBody,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> TaskInstanceCollectionResponse:
    """Clear task instances so that they run again. **A dry run by default**, and by default
    only the failed instances, as Airflow's client sends them. Cleared instances keep their
    try number; their runs are queued again."""
    check_json_body(body.note, "note")

    async def select(conn: AsyncConnection
                     ) -> tuple[list[tuple[DagRunRow, list[TaskInstanceRow]]],
                                TaskInstanceCollectionResponse | None]:
        """(the instances selected per run, the dry run's answer) on one read snapshot."""
        await visible_dag(conn, dag_id, principal)
        per_run = [(run, await clear_candidates(conn, run, await spec_of(ctx, conn, run),
                                                body))
                   for run in await runs_to_clear(conn, principal.tenant, dag_id, body)]
        if body.dry_run:
            return per_run, await ti_responses(ctx, conn,
                                               [ti for _, tis in per_run for ti in tis])
        return per_run, None

    per_run, preview = await read(ctx.store, select)
    if preview is not None:
        return preview
    selected = [ti for _, tis in per_run for ti in tis]
    if body.prevent_running_task and any(ti.state == "running" for ti in selected):
        raise ApiError(400, "Refusing to clear task instances that are running "
                            "(prevent_running_task)")
    cleared: dict[str, TaskInstanceRow] = {}
    for run, tis in per_run:
        if tis:
            cleared.update((t.id, t) for t in await _clear_exactly(ctx, run, tis,
                                                                   principal.username))
    if body.note is not None and selected:
        await run_edits.set_task_notes(ctx.operations, selected, body.note,
                                       user=principal.username, audited=False)
    # The instances as the clear left them (Airflow's answer): read again, the scheduler may
    # already have queued them again, which would look like the clear did nothing.
    answer = [replace(cleared.get(ti.id, ti), note=body.note if body.note is not None
                      else cleared.get(ti.id, ti).note) for ti in selected]
    return await ti_collection(ctx, answer)
