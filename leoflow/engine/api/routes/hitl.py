"""Airflow ``/api/v2`` human-in-the-loop details: list, get, and answer (PATCH).

Thin over ``leoflow.engine.services.hitl`` (tenant checks, validation, resuming the task).
``~`` stands for any DAG or run in the list, as in Airflow. Each detail embeds its task
instance as the TI routes show it: a task waiting for a person is ``awaiting_input`` in the
store and ``deferred`` in ``task_instance.state`` (see ``api_ti_state``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import NotFound
from leoflow.engine.api.models.common import INT32_MAX, INT32_MIN, Page, no_nul
from leoflow.engine.api.models.hitl import (
    HITLDetail,
    HITLDetailCollection,
    HITLDetailResponse,
    HITLUser,
    UpdateHITLDetailPayload,
)
from leoflow.engine.api.routes.dag_runs import ALL, ti_collection
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import EDIT_RUNS, READ, Principal
from leoflow.engine.services.hitl import HitlDetail, HitlService, Responder, scheduler_nudge
from leoflow.engine.services.rows import HitlRow
from leoflow.errors import InvariantError

router = APIRouter(prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}",
                   tags=["Task Instance"], dependencies=[Depends(no_nul)])
ONE = "/taskInstances/{task_id}/{map_index}/hitlDetails"
MapIndex = Annotated[int, Query(ge=INT32_MIN, le=INT32_MAX)]
# The UI's states; awaiting_input is what the store holds for a waiting task.
STATE_ALIASES = {"deferred": ("deferred", "awaiting_input")}


def hitl_service(ctx: ApiContext = Depends(api_context)) -> HitlService:
    """The composition root may put a service in ``extras["hitl"]``; otherwise one over the
    store that nudges this process's trigger runner when it runs here."""
    found = ctx.extras.get("hitl")
    if isinstance(found, HitlService):
        return found
    return HitlService(ctx.store, nudge=scheduler_nudge(ctx.operations.scheduler))


def _user(user_id: str | None, name: str | None) -> HITLUser | None:
    return None if user_id is None else HITLUser(id=user_id, name=name or user_id)


async def _details(ctx: ApiContext, found: Sequence[HitlDetail]) -> list[HITLDetail]:
    tis = (await ti_collection(ctx, [d.task_instance for d in found])).task_instances
    by_id = {ti.id: ti for ti in tis}
    out = []
    for detail in found:
        ti = by_id.get(detail.task_instance.id)
        if ti is None:  # its run was deleted meanwhile
            continue
        row = detail.request
        out.append(HITLDetail(
            task_instance=ti, options=row.options, subject=row.subject, body=row.body,
            defaults=row.defaults, multiple=row.multiple, params=row.params,
            assigned_users=[HITLUser(id=str(u.get("id")), name=str(u.get("name")))
                            for u in row.assigned_users],
            created_at=row.created_at,
            responded_by_user=_user(row.responded_by_user_id, row.responded_by_user_name),
            responded_at=row.responded_at, chosen_options=row.chosen_options,
            params_input=row.params_input or {}, response_received=row.response_received))
    return out


@router.get("/hitlDetails", response_model=HITLDetailCollection)
async def get_hitl_details(
    dag_id: str, dag_run_id: str,
    page: Annotated[Page, Depends()],
    task_id: str | None = None,
    map_index: MapIndex | None = None,
    state: Annotated[list[str] | None, Query()] = None,
    response_received: bool | None = None,
    ctx: ApiContext = Depends(api_context),
    service: HitlService = Depends(hitl_service),
    principal: Principal = Depends(require(READ)),
) -> HITLDetailCollection:
    """The caller's tenant's requests, newest first; ``~`` matches any DAG or run."""
    states: list[str] | None = None
    if state:
        states = [s for name in state for s in STATE_ALIASES.get(name, (name,))]
    found, total = await service.list_details(
        tenant=principal.tenant, dag_id=None if dag_id == ALL else dag_id,
        run_id=None if dag_run_id == ALL else dag_run_id, task_id=task_id,
        map_index=map_index, response_received=response_received, states=states,
        limit=page.limit, offset=page.offset)
    details = await _details(ctx, found)
    return HITLDetailCollection(hitl_details=details, total_entries=total)


@router.get(ONE, response_model=HITLDetail)
async def get_hitl_detail(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int,
    ctx: ApiContext = Depends(api_context),
    service: HitlService = Depends(hitl_service),
    principal: Principal = Depends(require(READ)),
) -> HITLDetail:
    detail = await service.get_detail(tenant=principal.tenant, dag_id=dag_id, run_id=dag_run_id,
                                      task_id=task_id, map_index=map_index)
    details = await _details(ctx, [detail])
    if not details:
        raise NotFound(f"The Task Instance with dag_id: `{dag_id}`, run_id: `{dag_run_id}`, "
                       f"task_id: `{task_id}` and map_index: `{map_index}` was not found")
    return details[0]


@router.get(ONE + "/tries/{try_number}", response_model=HITLDetail)
async def get_hitl_detail_try(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, try_number: int,
    ctx: ApiContext = Depends(api_context),
    service: HitlService = Depends(hitl_service),
    principal: Principal = Depends(require(READ)),
) -> Any:
    """The request of one try: Leoflow keeps the latest try's request only."""
    detail = await get_hitl_detail(dag_id, dag_run_id, task_id, map_index, ctx, service,
                                   principal)
    if detail.task_instance.try_number != try_number:
        raise NotFound(f"Human-in-the-loop detail of try {try_number} of task `{task_id}` "
                       f"was not found (only the latest try's request is kept)")
    return detail


@router.patch(ONE, response_model=HITLDetailResponse)
async def update_hitl_detail(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int,
    body: UpdateHITLDetailPayload,
    service: HitlService = Depends(hitl_service),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> HITLDetailResponse:
    """Answer a waiting task: it resumes with this answer."""
    row: HitlRow = await service.answer(
        tenant=principal.tenant,
        responder=Responder(id=principal.username, name=principal.username,
                            role=principal.role),
        dag_id=dag_id, run_id=dag_run_id, task_id=task_id, map_index=map_index,
        chosen_options=body.chosen_options, params_input=body.params_input)
    if row.responded_at is None:  # answer() returns the row it has just answered
        raise InvariantError(f"the answer to {dag_id}/{dag_run_id}/{task_id}[{map_index}] "
                             "was stored without its time")
    return HITLDetailResponse(
        responded_by=HITLUser(id=principal.username, name=principal.username),
        responded_at=row.responded_at, chosen_options=list(row.chosen_options or []),
        params_input=row.params_input or {})
