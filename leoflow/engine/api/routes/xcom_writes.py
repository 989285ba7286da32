"""Airflow ``POST …/xcomEntries``, ``PATCH`` and ``DELETE …/xcomEntries/{key}``: write (or
remove) an XCom entry by hand (needs the "edit runs" permission, as Airflow gives XCom
edits to the User role).

The rules are ``services.xcom_writes``'; the answer is the entry as ``GET`` shows it
(masked where it names a tenant's secret).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import Field, JsonValue

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.models.common import INT32_MAX, INT32_MIN, BodyModel, no_nul
from leoflow.engine.api.models.misc import XComResponseNative
from leoflow.engine.api.routes.xcom import _fields, _specs
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import EDIT_RUNS, Principal
from leoflow.engine.masking.values import tenant_masker
from leoflow.engine.services import xcom_writes
from leoflow.engine.services.rows import DagRunRow
from leoflow.engine.xcom import XComEntry
from leoflow.engine.xcom.base import XComValue

router = APIRouter(prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
                   tags=["XCom"], dependencies=[Depends(no_nul)])
MapIndex = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]


class XComCreateBody(BodyModel):
    key: str = Field(min_length=1, max_length=512)
    value: JsonValue
    map_index: MapIndex = -1


class XComUpdateBody(BodyModel):
    value: JsonValue
    map_index: MapIndex = -1


async def _response(ctx: ApiContext, principal: Principal, run: DagRunRow, task_id: str,
                    key: str, map_index: int, stored: XComValue) -> XComResponseNative:
    spec = (await _specs(ctx, [run]))[run.id]
    masker = await tenant_masker(ctx.auth, principal.tenant)
    entry = XComEntry(run.id, task_id, map_index, key, None, stored.created_at,
                      stored.expires_at)
    return XComResponseNative(**_fields(entry, run, spec),
                              value=masker.redact_value(stored.value))


@router.post("/xcomEntries", status_code=201, response_model=XComResponseNative)
async def create_xcom_entry(dag_id: str, dag_run_id: str, task_id: str, body: XComCreateBody,
                            ctx: ApiContext = Depends(api_context),
                            principal: Principal = Depends(require(EDIT_RUNS))
                            ) -> XComResponseNative:
    """A new entry (201); 409 when the key is taken at that map index."""
    run, stored = await xcom_writes.create(
        ctx.store, ctx.xcom, dag_id=dag_id, run_id=dag_run_id, task_id=task_id, key=body.key,
        map_index=body.map_index, value=body.value, tenant=principal.tenant)
    return await _response(ctx, principal, run, task_id, body.key, body.map_index, stored)


@router.patch("/xcomEntries/{xcom_key}", response_model=XComResponseNative)
async def update_xcom_entry(dag_id: str, dag_run_id: str, task_id: str,
                            xcom_key: Annotated[str, Path(min_length=1)],
                            body: XComUpdateBody, ctx: ApiContext = Depends(api_context),
                            principal: Principal = Depends(require(EDIT_RUNS))
                            ) -> XComResponseNative:
    """A new value for an existing entry; 404 when there is none."""
    run, stored = await xcom_writes.update(
        ctx.store, ctx.xcom, dag_id=dag_id, run_id=dag_run_id, task_id=task_id, key=xcom_key,
        map_index=body.map_index, value=body.value, tenant=principal.tenant)
    return await _response(ctx, principal, run, task_id, xcom_key, body.map_index, stored)


@router.delete("/xcomEntries/{xcom_key}", status_code=204,
               responses={404: {"description": "no such entry"}})
async def delete_xcom_entry(dag_id: str, dag_run_id: str, task_id: str,
                            xcom_key: Annotated[str, Path(min_length=1)],
                            map_index: Annotated[int, Query(ge=-1, le=INT32_MAX)] = -1,
                            ctx: ApiContext = Depends(api_context),
                            principal: Principal = Depends(require(EDIT_RUNS))) -> Response:
    """Remove the entry of ``xcom_key`` at ``map_index`` (the XCom page's delete button); a
    downstream task that has not pulled it yet finds nothing, as in Airflow."""
    await xcom_writes.delete(ctx.store, ctx.xcom, dag_id=dag_id, run_id=dag_run_id,
                             task_id=task_id, key=xcom_key, map_index=map_index,
                             tenant=principal.tenant)
    return Response(status_code=204)
