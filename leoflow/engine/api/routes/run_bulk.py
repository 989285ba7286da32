"""Airflow's writes over many runs and task instances: ``PATCH /dags/{id}/dagRuns`` and
``PATCH …/dagRuns/{run}/taskInstances`` (bulk update and delete), ``POST
/dags/{id}/clearDagRuns`` (clear several runs), and ``PATCH …/taskGroupInstances/{group_id}``
(mark or note every instance of a task group, with its dry run).

Each entity goes through the single-write route code (its checks, tenant, audit), the bulk
rules are ``services.bulk``'s. Runs and task instances are not created this way: a create
action answers, per entity, Airflow's "not supported" error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.common import INT32_MAX, INT32_MIN, BodyModel, no_nul
from leoflow.engine.api.models.dag_runs import (
    DAGRunClearBody,
    DAGRunCollectionResponse,
    DAGRunPatchBody,
)
from leoflow.engine.api.models.task_instances import (
    PatchTaskInstanceBody,
    TaskInstanceCollectionResponse,
)
from leoflow.engine.api.routes import dag_runs, task_instance_changes
from leoflow.engine.api.routes.bulk import BulkBody, BulkResponse, _apply, status_of
from leoflow.engine.api.routes.dags import spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import EDIT_RUNS, Principal
from leoflow.engine.services import bulk, task_instance_reads

router = APIRouter(prefix="/api/v2/dags/{dag_id}", dependencies=[Depends(no_nul)])
ALL = "~"


class BulkDAGRunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dag_run_id: str
    dag_id: str | None = None
    state: Literal["queued", "success", "failed"] | None = None
    note: str | None = Field(default=None, max_length=1000)


class BulkTaskInstanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: str
    dag_id: str | None = None
    dag_run_id: str | None = None
    map_index: int | None = Field(default=None, ge=INT32_MIN, le=INT32_MAX)
    new_state: str | None = None
    note: str | None = Field(default=None, max_length=1000)
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False


async def _not_created(_entity: Any) -> None:
    raise ApiError(405, "Runs and task instances are not created in bulk: trigger a run "
                        "(POST …/dagRuns) instead")


def _dag(path_dag: str, entity_dag: str | None) -> str:
    dag_id = entity_dag or path_dag
    if dag_id == ALL:
        raise ApiError(400, "dag_id is required in each entity when the path's dag_id is ~")
    return dag_id


@router.patch("/dagRuns", response_model=BulkResponse, tags=["DagRun"])
async def bulk_dag_runs(dag_id: str, body: BulkBody, ctx: ApiContext = Depends(api_context),
                        principal: Principal = Depends(require(EDIT_RUNS))) -> BulkResponse:
    """Update (state, note) or delete many runs; keys are ``dag_id/run_id`` or run ids."""
    def split(key: str) -> tuple[str, str]:
        head, _, tail = key.rpartition("/")
        return (_dag(dag_id, head or None), tail) if head else (_dag(dag_id, None), key)

    async def exists(key: str) -> bool:
        one_dag, run_id = split(key)
        try:
            await dag_runs.require_run(ctx, one_dag, run_id, principal)
        except NotFound:
            return False
        return True

    async def update(entity: Any, mask: list[str] | None) -> None:
        patch = DAGRunPatchBody(state=entity.state, note=entity.note)
        names = mask or [n for n in ("state", "note") if getattr(entity, n) is not None]
        await dag_runs.patch_dag_run(_dag(dag_id, entity.dag_id), entity.dag_run_id, patch,
                                     update_mask=names, ctx=ctx, principal=principal)

    async def delete(key: str) -> None:
        one_dag, run_id = split(key)
        await dag_runs.delete_dag_run(one_dag, run_id, ctx=ctx, principal=principal)

    target = bulk.BulkTarget(
        noun="dag runs", exists=exists, create=_not_created, update=update, delete=delete,
        key_of=lambda e: f"{e.dag_id}/{e.dag_run_id}" if e.dag_id else e.dag_run_id,
        status_of=status_of)
    return await _apply(body, target, BulkDAGRunBody, "dag_run_id")


@router.patch("/dagRuns/{dag_run_id}/taskInstances", response_model=BulkResponse,
              tags=["Task Instance"])
async def bulk_task_instances(dag_id: str, dag_run_id: str, body: BulkBody,
                              ctx: ApiContext = Depends(api_context),
                              principal: Principal = Depends(require(EDIT_RUNS))
                              ) -> BulkResponse:
    """Mark or note many task instances (each as ``PATCH …/taskInstances/{task_id}``);
    deleting a task instance is not supported (clear it, or delete its run)."""
    def where(entity: Any) -> tuple[str, str]:
        run_id = entity.dag_run_id or dag_run_id
        if run_id == ALL:
            raise ApiError(400, "dag_run_id is required in each entity when the path's "
                                "dag_run_id is ~")
        return _dag(dag_id, entity.dag_id), run_id

    async def exists(_key: str) -> bool:
        return True  # an unknown instance is the patch's own 404, per entity

    async def update(entity: Any, mask: list[str] | None) -> None:
        one_dag, run_id = where(entity)
        patch = PatchTaskInstanceBody(
            new_state=entity.new_state, note=entity.note,
            include_upstream=entity.include_upstream,
            include_downstream=entity.include_downstream,
            include_future=entity.include_future, include_past=entity.include_past)
        names = mask or [n for n in ("new_state", "note") if getattr(entity, n) is not None]
        await task_instance_changes.patch_task_instance(
            one_dag, run_id, entity.task_id, patch, map_index=entity.map_index,
            update_mask=names, ctx=ctx, principal=principal)

    async def delete(_key: str) -> None:
        raise ApiError(405, "Task instances are not deleted one by one in Leoflow: clear "
                            "them (POST …/clearTaskInstances) or delete their run")

    target = bulk.BulkTarget(
        noun="task instances", exists=exists, create=_not_created, update=update,
        delete=delete, status_of=status_of,
        key_of=lambda e: f"{e.dag_id or dag_id}.{e.dag_run_id or dag_run_id}.{e.task_id}"
                         f"[{-1 if e.map_index is None else e.map_index}]")
    return await _apply(body, target, BulkTaskInstanceBody, "task_id")


class BulkDAGRunClearBody(BodyModel):
    dag_runs: list[BulkDAGRunBody] | None = None
    dry_run: bool = True
    only_failed: bool = False
    only_new: bool = False
    note: str | None = Field(default=None, max_length=1000)
    run_on_latest_version: bool | None = None
    partition_key: str | None = None
    partition_date_start: Any = None
    partition_date_end: Any = None


@router.post("/clearDagRuns", tags=["DagRun"],
             response_model=DAGRunCollectionResponse | TaskInstanceCollectionResponse)
async def clear_dag_runs(dag_id: str, body: BulkDAGRunClearBody,
                         ctx: ApiContext = Depends(api_context),
                         principal: Principal = Depends(require(EDIT_RUNS))
                         ) -> DAGRunCollectionResponse | TaskInstanceCollectionResponse:
    """Clear each listed run as ``POST …/dagRuns/{id}/clear`` does: a dry run lists the task
    instances it would clear, otherwise the runs, queued again. Selecting runs by
    partition is not supported here (list them in ``dag_runs``)."""
    if body.partition_key or body.partition_date_start or body.partition_date_end:
        raise ApiError(400, "Clearing runs by partition is not supported: list the runs in "
                            "dag_runs")
    one = DAGRunClearBody(dry_run=body.dry_run, only_failed=body.only_failed,
                          only_new=body.only_new, note=body.note,
                          run_on_latest_version=body.run_on_latest_version)
    runs, instances = [], []
    for item in body.dag_runs or ():
        done = await dag_runs.clear_dag_run(_dag(dag_id, item.dag_id), item.dag_run_id, one,
                                            ctx=ctx, principal=principal)
        if isinstance(done, TaskInstanceCollectionResponse):
            instances += done.task_instances
        else:
            runs.append(done)
    if body.dry_run:
        return TaskInstanceCollectionResponse(task_instances=instances,
                                              total_entries=len(instances))
    return DAGRunCollectionResponse(dag_runs=runs, total_entries=len(runs))


async def _group(ctx: ApiContext, principal: Principal, dag_id: str, dag_run_id: str,
                 group_id: str, body: PatchTaskInstanceBody, map_index: int | None,
                 update_mask: list[str] | None, dry_run: bool
                 ) -> TaskInstanceCollectionResponse:
    run = await dag_runs.require_run(ctx, dag_id, dag_run_id, principal)
    version = await task_instance_reads.version_of_run(ctx.store, run)
    spec = spec_cache(ctx).get(version)
    members = [t.task_id for t in (spec.tasks if spec else ())
               if t.group_id and (t.group_id == group_id or
                                  t.group_id.startswith(f"{group_id}."))]
    if not members:
        raise NotFound(f"Task group {group_id} not found in DAG {dag_id}")
    patch = (task_instance_changes.patch_task_instance_dry_run if dry_run
             else task_instance_changes.patch_task_instance)
    found: dict[tuple[str, int], Any] = {}
    for task_id in members:
        try:
            done = await patch(dag_id, dag_run_id, task_id, body, map_index=map_index,
                               update_mask=update_mask, ctx=ctx, principal=principal)
        except ApiError as exc:
            if exc.status == 409:  # this member is in that state already
                continue
            raise
        for ti in done.task_instances:
            found[(ti.task_id, ti.map_index)] = ti
    items = list(found.values())
    return TaskInstanceCollectionResponse(task_instances=items, total_entries=len(items))


@router.patch("/dagRuns/{dag_run_id}/taskGroupInstances/{group_id}",
              response_model=TaskInstanceCollectionResponse, tags=["Task Instance"])
async def patch_task_group_instances(
    dag_id: str, dag_run_id: str, group_id: str, body: PatchTaskInstanceBody,
    map_index: Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)] = None,
    update_mask: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context), principal: Principal = Depends(require(EDIT_RUNS)),
) -> TaskInstanceCollectionResponse:
    """Mark (or note) every task instance of the group, nested groups included."""
    return await _group(ctx, principal, dag_id, dag_run_id, group_id, body, map_index,
                        update_mask, dry_run=False)


@router.patch("/dagRuns/{dag_run_id}/taskGroupInstances/{group_id}/dry_run",
              response_model=TaskInstanceCollectionResponse, tags=["Task Instance"])
async def patch_task_group_instances_dry_run(
    dag_id: str, dag_run_id: str, group_id: str, body: PatchTaskInstanceBody,
    map_index: Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)] = None,
    update_mask: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context), principal: Principal = Depends(require(EDIT_RUNS)),
) -> TaskInstanceCollectionResponse:
    return await _group(ctx, principal, dag_id, dag_run_id, group_id, body, map_index,
                        update_mask, dry_run=True)

