"""Airflow 3.3's task state store routes,
``/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/state-store``: list, get,
set (PUT), patch, delete one key, clear (one map index or all).

The values a task keeps across its tries (``task_state_store`` in the task). Reading needs
``read``; writing ``edit runs`` (the User role edits task instances). An instance of another
tenant answers 404 as one that does not exist. Keys may hold ``/``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, JsonValue

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.models.common import (
    INT32_MAX,
    INT32_MIN,
    ApiModel,
    BodyModel,
    Page,
    no_nul,
)
from leoflow.engine.api.routes.task_instance_paths import TIS
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import EDIT_RUNS, READ, Principal
from leoflow.engine.services import task_state_views as views

router = APIRouter(prefix="/api/v2/dags/{dag_id}" + TIS + "/{task_id}/state-store",
                   tags=["Task State Store"], dependencies=[Depends(no_nul)])
MapIndexQuery = Annotated[int, Query(ge=INT32_MIN, le=INT32_MAX)]


class TaskStateStoreResponse(ApiModel):
    key: str
    value: Any
    updated_at: datetime
    expires_at: datetime | None = None


class TaskStateStoreCollectionResponse(ApiModel):
    task_state_store: list[TaskStateStoreResponse]
    total_entries: int


class TaskStateStoreBody(BodyModel):
    """``expires_at``: a time with an offset, or ``"never"``; absent: the store's
    retention (30 days)."""

    value: JsonValue
    expires_at: AwareDatetime | Literal["never"] | None = None


class TaskStateStorePatchBody(BodyModel):
    value: JsonValue


async def _scope(ctx: ApiContext, principal: Principal, dag_id: str, run_id: str,
                 task_id: str, map_index: int) -> views.Scope:
    return await views.instance_scope(ctx.store, dag_id, run_id, task_id, map_index,
                                      tenant=principal.tenant)


def _response(item: views.TaskStateEntry) -> TaskStateStoreResponse:
    return TaskStateStoreResponse(key=item.key, value=item.value, updated_at=item.updated_at,
                                  expires_at=item.expires_at)


@router.get("", response_model=TaskStateStoreCollectionResponse)
async def list_task_state_store(dag_id: str, dag_run_id: str, task_id: str,
                                page: Annotated[Page, Depends()], map_index: MapIndexQuery = -1,
                                ctx: ApiContext = Depends(api_context),
                                principal: Principal = Depends(require(READ))
                                ) -> TaskStateStoreCollectionResponse:
    scope = await _scope(ctx, principal, dag_id, dag_run_id, task_id, map_index)
    items, total = await views.entries(ctx.store, scope, limit=page.limit, offset=page.offset)
    return TaskStateStoreCollectionResponse(task_state_store=[_response(i) for i in items],
                                            total_entries=total)


@router.get("/{key:path}", response_model=TaskStateStoreResponse)
async def get_task_state_store(dag_id: str, dag_run_id: str, task_id: str, key: str,
                               map_index: MapIndexQuery = -1,
                               ctx: ApiContext = Depends(api_context),
                               principal: Principal = Depends(require(READ))
                               ) -> TaskStateStoreResponse:
    scope = await _scope(ctx, principal, dag_id, dag_run_id, task_id, map_index)
    return _response(await views.entry(ctx.store, scope, key))


@router.put("/{key:path}", status_code=204, response_class=Response)
async def set_task_state_store(dag_id: str, dag_run_id: str, task_id: str, key: str,
                               body: TaskStateStoreBody, map_index: MapIndexQuery = -1,
                               ctx: ApiContext = Depends(api_context),
                               principal: Principal = Depends(require(EDIT_RUNS))) -> Response:
    """Create or overwrite a key (null and values above 256 KB are refused with 422)."""
    scope = await _scope(ctx, principal, dag_id, dag_run_id, task_id, map_index)
    when = body.expires_at if isinstance(body.expires_at, datetime) else None
    await views.put(ctx.store, scope, key, body.value, expires_at=when,
                    never_expire=body.expires_at == "never")
    return Response(status_code=204)


@router.patch("/{key:path}", status_code=204, response_class=Response)
async def patch_task_state_store(dag_id: str, dag_run_id: str, task_id: str, key: str,
                                 body: TaskStateStorePatchBody, map_index: MapIndexQuery = -1,
                                 ctx: ApiContext = Depends(api_context),
                                 principal: Principal = Depends(require(EDIT_RUNS))
                                 ) -> Response:
    """A new value for an existing key, keeping its expiry (404 when absent)."""
    scope = await _scope(ctx, principal, dag_id, dag_run_id, task_id, map_index)
    await views.patch(ctx.store, scope, key, body.value)
    return Response(status_code=204)


@router.delete("/{key:path}", status_code=204, response_class=Response)
async def delete_task_state_store(dag_id: str, dag_run_id: str, task_id: str, key: str,
                                  map_index: MapIndexQuery = -1,
                                  ctx: ApiContext = Depends(api_context),
                                  principal: Principal = Depends(require(EDIT_RUNS))
                                  ) -> Response:
    scope = await _scope(ctx, principal, dag_id, dag_run_id, task_id, map_index)
    await views.remove(ctx.store, scope, key)
    return Response(status_code=204)


@router.delete("", status_code=204, response_class=Response)
async def clear_task_state_store(dag_id: str, dag_run_id: str, task_id: str,
                                 map_index: MapIndexQuery = -1, all_map_indices: bool = False,
                                 ctx: ApiContext = Depends(api_context),
                                 principal: Principal = Depends(require(EDIT_RUNS))) -> Response:
    """Every key of the instance (``all_map_indices``: of every map index of the task)."""
    scope = await _scope(ctx, principal, dag_id, dag_run_id, task_id, map_index)
    await views.remove(ctx.store, scope, None, all_map_indices=all_map_indices)
    return Response(status_code=204)
