"""Airflow ``/api/v2`` XCom entries: list (``~`` for DAG, run and task) and get.

Values are read through the XCom backend of the control plane (SQL or Redis), so the API
sees exactly what tasks pulled. ``value`` is the stored JSON value, natively; with
``stringify=true`` it is Python's ``str()`` of it, as Airflow answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypedDict

from fastapi import APIRouter, Depends, Query

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import NotFound
from leoflow.engine.api.models.common import INT32_MAX, INT32_MIN, Page, no_nul
from leoflow.engine.api.models.convert import display_name, task_display_name, task_of
from leoflow.engine.api.models.misc import (
    XComCollectionResponse,
    XComResponse,
    XComResponseNative,
    XComResponseString,
)
from leoflow.engine.api.routes.dag_runs import ALL
from leoflow.engine.api.routes.dags import spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.masking.values import tenant_masker
from leoflow.engine.services import run_listing
from leoflow.engine.services.rows import DagRunRow
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.xcom import XComEntry

router = APIRouter(prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
                   tags=["XCom"], dependencies=[Depends(no_nul)])
MapIndexQuery = Annotated[int, Query(ge=INT32_MIN, le=INT32_MAX)]


class _Fields(TypedDict):
    """What the three XCom response models share."""

    key: str
    timestamp: datetime
    logical_date: datetime | None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str
    run_after: datetime


def _fields(entry: XComEntry, run: DagRunRow, spec: DagSpec | None) -> _Fields:
    return {
        "key": entry.key,
        "timestamp": entry.created_at or run.run_after,
        "logical_date": run.logical_date,
        "map_index": entry.map_index,
        "task_id": entry.task_id,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "dag_display_name": display_name(run.dag_id, spec),
        "task_display_name": task_display_name(entry.task_id, task_of(spec, entry.task_id),
                                               spec),
        "run_after": run.run_after,
    }


async def _specs(ctx: ApiContext, rows: list[DagRunRow]) -> dict[int, DagSpec | None]:
    versions = await run_listing.run_versions(ctx.store, rows)
    cache = spec_cache(ctx)
    return {r.id: cache.get(versions.get(r.dag_version_id)) for r in rows}


@router.get("/xcomEntries", response_model=XComCollectionResponse)
async def get_xcom_entries(
    dag_id: str, dag_run_id: str, task_id: str,
    page: Annotated[Page, Depends()],
    xcom_key: str | None = None,
    map_index: Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> XComCollectionResponse:
    """XCom entries (without values) of the caller's runs; ``~`` matches any DAG, run or
    task. Runs are listed oldest first, entries by task, map index and key."""
    candidates = await run_listing.matching_runs(
        ctx.store, tenant=principal.tenant, run_id=None if dag_run_id == ALL else dag_run_id,
        dag_id=None if dag_id == ALL else dag_id)
    specs = await _specs(ctx, candidates)
    task = None if task_id == ALL else task_id
    # Count per run first, then read only the runs the requested page overlaps.
    totals = []
    for run in candidates:
        counted = await ctx.xcom.list(dag_run_id=run.id, task_id=task, key=xcom_key,
                                      map_index=map_index, limit=0)
        totals.append(counted.total)
    items: list[XComResponse] = []
    skip, room = page.offset, page.limit
    for run, total in zip(candidates, totals, strict=True):
        if room <= 0:
            break
        if skip >= total:
            skip -= total
            continue
        part = await ctx.xcom.list(dag_run_id=run.id, task_id=task, key=xcom_key,
                                   map_index=map_index, limit=room, offset=skip)
        skip = 0
        room -= len(part.items)
        items.extend(XComResponse(**_fields(e, run, specs[run.id])) for e in part.items)
    return XComCollectionResponse(xcom_entries=items, total_entries=sum(totals))


@router.get("/xcomEntries/{xcom_key}",
            response_model=XComResponseNative | XComResponseString)
async def get_xcom_entry(
    dag_id: str, dag_run_id: str, task_id: str, xcom_key: str,
    map_index: MapIndexQuery = -1,
    deserialize: bool = False,
    stringify: bool = False,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> XComResponseNative | XComResponseString:
    """One value. ``deserialize`` changes nothing (values are JSON, stored as such)."""
    missing = NotFound(f"XCom entry with key: `{xcom_key}` not found")
    run = await run_listing.find_visible_run(ctx.store, dag_id, dag_run_id,
                                             tenant=principal.tenant)
    if run is None:
        raise missing
    spec = (await _specs(ctx, [run]))[run.id]
    found = await ctx.xcom.get(run.id, task_id, xcom_key, map_index)
    if found is None:
        raise missing
    # shown masked, stored intact: the tenant's secrets a task returned read *** here, as
    # in its log, while downstream tasks pull the real value (engine/masking/values.py)
    masker = await tenant_masker(ctx.auth, principal.tenant)
    value = masker.redact_value(found.value)
    entry = XComEntry(run.id, task_id, map_index, xcom_key, value, found.created_at,
                      found.expires_at)
    if stringify:
        return XComResponseString(**_fields(entry, run, spec),
                                  value=None if value is None else str(value))
    return XComResponseNative(**_fields(entry, run, spec), value=value)
