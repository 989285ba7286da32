"""Airflow ``/api/v2``: a DAG's tasks (``/dags/{id}/tasks``), its versions
(``/dags/{id}/dagVersions``), and the tenant-wide ``/dagTags``, ``/dagStats`` and
``/dagWarnings``.

All are reads of compiled specs and run counts through ``services.dag_catalog``; another
tenant's DAG answers 404 as one that does not exist, and listings leave it out.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.catalog import (
    DagStatsCollectionResponse,
    DagStatsResponse,
    DagStatsStateResponse,
    DAGTagCollectionResponse,
    DagVersionCollectionResponse,
    DAGWarningCollectionResponse,
    DAGWarningResponse,
    TaskCollectionResponse,
    TaskResponse,
    task_response,
)
from leoflow.engine.api.models.common import INT32_MAX, Page, no_nul, order_list
from leoflow.engine.api.models.convert import dag_version_response, display_name
from leoflow.engine.api.models.dags import DagVersionResponse
from leoflow.engine.api.routes.dags import require_dag, spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import dag_catalog, dag_listing
from leoflow.engine.services.rows import UnknownOrderField
from leoflow.engine.spec.model import DagSpec

router = APIRouter(prefix="/api/v2", tags=["Task", "DagVersion", "DAG", "DagStats",
                                           "DagWarning"], dependencies=[Depends(no_nul)])

RUN_STATES: tuple[Literal["queued", "running", "success", "failed"], ...] = (
    "queued", "running", "success", "failed")
TASK_ORDER = ("task_id", "task_display_name", "operator_name", "owner", "pool",
              "priority_weight", "retries", "trigger_rule", "start_date")


async def _spec(ctx: ApiContext, dag_id: str, principal: Principal) -> DagSpec:
    await require_dag(ctx, dag_id, principal, f"Dag with id {dag_id} was not found")
    spec = spec_cache(ctx).get(await dag_listing.current_version(ctx.store, dag_id))
    if spec is None:
        raise NotFound(f"Dag with id {dag_id} was not found")
    return spec


@router.get("/dags/{dag_id}/tasks", response_model=TaskCollectionResponse, tags=["Task"])
async def get_tasks(dag_id: str, order_by: str = "task_id",
                    ctx: ApiContext = Depends(api_context),
                    principal: Principal = Depends(require(READ))) -> TaskCollectionResponse:
    """Every task of the DAG's current version, from its compiled spec."""
    spec = await _spec(ctx, dag_id, principal)
    field = order_by.lstrip("-")
    if field not in TASK_ORDER:
        raise ApiError(400, f"Ordering with '{field}' is disallowed or the attribute does "
                            f"not exist on the model")
    tasks = [task_response(t, spec) for t in spec.tasks]
    tasks.sort(key=lambda t: (getattr(t, field) is None, str(getattr(t, field) or "")),
               reverse=order_by.startswith("-"))
    return TaskCollectionResponse(tasks=tasks, total_entries=len(tasks))


@router.get("/dags/{dag_id}/tasks/{task_id}", response_model=TaskResponse, tags=["Task"])
async def get_task(dag_id: str, task_id: str, ctx: ApiContext = Depends(api_context),
                   principal: Principal = Depends(require(READ))) -> TaskResponse:
    spec = await _spec(ctx, dag_id, principal)
    if task_id not in spec.task_ids:
        raise NotFound(f"Task with id {task_id} not found")
    return task_response(spec.task(task_id), spec)


@router.get("/dags/{dag_id}/dagVersions", response_model=DagVersionCollectionResponse,
            tags=["DagVersion"])
async def get_dag_versions(
    dag_id: str, page: Annotated[Page, Depends()],
    version_number: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    bundle_name: str | None = None, bundle_version: str | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context), principal: Principal = Depends(require(READ)),
) -> DagVersionCollectionResponse:
    """The DAG's versions (``~``: every DAG of the caller's tenant), oldest first. Leoflow
    has no bundles: a ``bundle_name`` or ``bundle_version`` filter matches nothing."""
    if dag_id != "~":
        await require_dag(ctx, dag_id, principal, f"Dag with id {dag_id} was not found")
    try:
        rows, total = await dag_catalog.tenant_versions(
            ctx.store, tenant=principal.tenant, dag_id=None if dag_id == "~" else dag_id,
            version_number=version_number, order=order_list(order_by, "id"),
            limit=page.limit, offset=page.offset)
    except UnknownOrderField as exc:
        raise ApiError(400, str(exc)) from None
    if bundle_name or bundle_version:
        rows, total = [], 0
    cache = spec_cache(ctx)
    return DagVersionCollectionResponse(
        dag_versions=[dag_version_response(v, cache.get(v)) for v in rows], total_entries=total)


@router.get("/dags/{dag_id}/dagVersions/{version_number}", response_model=DagVersionResponse,
            tags=["DagVersion"])
async def get_dag_version(dag_id: str,
                          version_number: Annotated[int, Path(ge=0, le=INT32_MAX)],
                          ctx: ApiContext = Depends(api_context),
                          principal: Principal = Depends(require(READ))) -> DagVersionResponse:
    missing = NotFound(f"The DagVersion with dag_id: `{dag_id}` and version_number: "
                       f"`{version_number}` was not found")
    if await dag_listing.visible(ctx.store, dag_id, tenant=principal.tenant) is None:
        raise missing
    version = await dag_listing.version_by_number(ctx.store, dag_id, version_number)
    if version is None:
        raise missing
    return dag_version_response(version, spec_cache(ctx).get(version))


@router.get("/dagTags", response_model=DAGTagCollectionResponse, tags=["DAG"])
async def get_dag_tags(page: Annotated[Page, Depends()], order_by: str = "name",
                       tag_name_pattern: str | None = None,
                       ctx: ApiContext = Depends(api_context),
                       principal: Principal = Depends(require(READ))) -> DAGTagCollectionResponse:
    """The distinct tags of the caller's DAGs; ``tag_name_pattern`` is a case-insensitive
    substring (``%`` and ``_`` wildcards)."""
    if order_by.lstrip("-") != "name":
        raise ApiError(400, f"Ordering with '{order_by.lstrip('-')}' is disallowed or the "
                            f"attribute does not exist on the model")
    dags = await dag_catalog.tenant_dags(ctx.store, tenant=principal.tenant,
                                         spec_of=spec_cache(ctx).get)
    tags = sorted({t for d in dags if d.spec for t in d.spec.tags},
                  reverse=order_by.startswith("-"))
    if tag_name_pattern:
        needle = tag_name_pattern.lower().replace("%", "")
        tags = [t for t in tags if needle in t.lower()]
    return DAGTagCollectionResponse(tags=tags[page.offset:page.offset + page.limit],
                                    total_entries=len(tags))


@router.get("/dagStats", response_model=DagStatsCollectionResponse, tags=["DagStats"])
async def get_dag_stats(dag_ids: Annotated[list[str] | None, Query()] = None,
                        ctx: ApiContext = Depends(api_context),
                        principal: Principal = Depends(require(READ))
                        ) -> DagStatsCollectionResponse:
    """Runs by state of each DAG (every state listed, 0 when none), as Airflow counts."""
    wanted = [p.strip() for v in dag_ids or () for p in v.split(",") if p.strip()] or None
    dags = await dag_catalog.tenant_dags(ctx.store, tenant=principal.tenant,
                                         spec_of=spec_cache(ctx).get, dag_ids=wanted)
    counts = await dag_catalog.run_state_counts(ctx.store, tenant=principal.tenant,
                                                dag_ids=[d.row.dag_id for d in dags])
    stats = [DagStatsResponse(
        dag_id=d.row.dag_id, dag_display_name=display_name(d.row.dag_id, d.spec),
        stats=[DagStatsStateResponse(state=s, count=counts.get(d.row.dag_id, {}).get(s, 0))
               for s in RUN_STATES]) for d in dags]
    return DagStatsCollectionResponse(dags=stats, total_entries=len(stats))


@router.get("/dagWarnings", response_model=DAGWarningCollectionResponse, tags=["DagWarning"])
async def list_dag_warnings(
    page: Annotated[Page, Depends()], dag_id: str | None = None,
    warning_type: Literal["asset conflict", "non-existent pool",
                          "runtime varying value"] | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context), principal: Principal = Depends(require(READ)),
) -> DAGWarningCollectionResponse:
    """Tasks naming a pool that does not exist (``non-existent pool``). The other kinds
    cannot arise here: Leoflow compiles DAGs once (no runtime-varying values between
    parses) and keeps each tenant's assets apart."""
    dags = await dag_catalog.tenant_dags(ctx.store, tenant=principal.tenant,
                                         spec_of=spec_cache(ctx).get,
                                         dag_ids=[dag_id] if dag_id else None)
    found = [] if warning_type not in (None, "non-existent pool") else (
        await dag_catalog.pool_warnings(ctx.store, dags))
    names = {d.row.dag_id: display_name(d.row.dag_id, d.spec) for d in dags}
    order = order_list(order_by, "dag_id")[0]
    if order.lstrip("-") not in ("dag_id", "warning_type", "message", "timestamp"):
        raise ApiError(400, f"Ordering with '{order.lstrip('-')}' is disallowed or the "
                            f"attribute does not exist on the model")
    key = order.lstrip("-")
    found.sort(key=lambda w: str(getattr(w, key, "non-existent pool")),
               reverse=order.startswith("-"))
    warnings = [DAGWarningResponse(dag_id=w.dag_id, dag_display_name=names[w.dag_id],
                                   warning_type="non-existent pool", message=w.message,
                                   timestamp=w.timestamp) for w in found]
    return DAGWarningCollectionResponse(
        dag_warnings=warnings[page.offset:page.offset + page.limit],
        total_entries=len(warnings))
