"""Airflow ``/api/v2/dags``: list with filters, get, details, pause/unpause, delete.

Every query is scoped to the caller's tenant: another tenant's DAG answers 404 exactly as
a DAG that does not exist. ``visible_dag`` and ``spec_cache`` are shared with the other
route modules of the Airflow face.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.common import Page, no_nul, order_list
from leoflow.engine.api.models.convert import (
    SpecCache,
    dag_details_response,
    dag_response,
    display_name,
)
from leoflow.engine.api.models.dags import (
    DAGCollectionResponse,
    DAGDetailsResponse,
    DAGPatchBody,
    DAGResponse,
)
from leoflow.engine.api.security import api_context, require, run_types_for
from leoflow.engine.auth.permissions import EDIT_RUNS, MANAGE_DAGS, READ, Principal
from leoflow.engine.services import dag_deletion, dag_listing, favorites, run_views
from leoflow.engine.services.rows import DagRow, UnknownOrderField
from leoflow.engine.spec.model import DagSpec

router = APIRouter(prefix="/api/v2", tags=["DAG"], dependencies=[Depends(no_nul)])

SPEC_CACHE_KEY = "airflow_spec_cache"


def spec_cache(ctx: ApiContext) -> SpecCache:
    """The parsed specs of DAG versions, kept with the API context (one per app)."""
    cache = ctx.extras.get(SPEC_CACHE_KEY)
    if cache is None:
        cache = ctx.extras[SPEC_CACHE_KEY] = SpecCache()
    return cache


def dag_not_found(dag_id: str) -> NotFound:
    return NotFound(f"The Dag with ID: `{dag_id}` was not found")


async def visible_dag(conn: AsyncConnection, dag_id: str, principal: Principal,
                      missing: str | None = None) -> DagRow:
    """The DAG if it exists in the caller's tenant; 404 otherwise (the same answer whether
    it is absent or another tenant's, so tenants cannot probe each other's DAG ids)."""
    row = await run_views.visible_dag(conn, dag_id, principal.tenant)
    if row is None:
        raise NotFound(missing) if missing else dag_not_found(dag_id)
    return row


async def require_dag(ctx: ApiContext, dag_id: str, principal: Principal,
                      missing: str | None = None) -> DagRow:
    """``visible_dag`` on its own read connection."""
    row = await dag_listing.visible(ctx.store, dag_id, tenant=principal.tenant)
    if row is None:
        raise NotFound(missing) if missing else dag_not_found(dag_id)
    return row


def bad_order(exc: UnknownOrderField) -> ApiError:
    return ApiError(400, str(exc))


async def _page_of_dags(ctx: ApiContext, principal: Principal, *,
                        page: Page, paused: bool | None, exclude_stale: bool,
                        dag_id_pattern: str | None, dag_id_prefix: str | None,
                        display_pattern: str | None, tags: list[str] | None, tags_mode: str,
                        owners: list[str] | None, has_import_errors: bool | None,
                        order: list[str], is_favorite: bool | None = None
                        ) -> dag_listing.DagPage:
    """One page of the tenant's DAGs with their current specs, and the total.

    Tags, owners and display names live in the compiled spec, not in columns: with one of
    those filters (or ``is_favorite``: the caller's favourites, or all but them) the
    candidates are filtered by ``keep``, before paging.
    """
    liked = (await favorites.of_user(ctx.store, principal.username)
             if is_favorite is not None else set())

    def keep(row: DagRow, spec: DagSpec | None) -> bool:
        dag_tags = set(spec.tags) if spec else set()
        if tags and (not dag_tags.issuperset(tags) if tags_mode == "all"
                     else dag_tags.isdisjoint(tags)):
            return False
        if owners:
            dag_owners = {o.strip() for t in (spec.tasks if spec else ())
                          for o in t.owner.split(",")}
            if dag_owners.isdisjoint(owners):
                return False
        if display_pattern:
            needle = display_pattern.lower().replace("%", "")
            if needle not in display_name(row.dag_id, spec).lower():
                return False
        return is_favorite is None or (row.dag_id in liked) == is_favorite

    in_spec = bool(tags or owners or display_pattern) or is_favorite is not None
    try:
        return await dag_listing.page_of_dags(
            ctx.store, tenant=principal.tenant, spec_of=spec_cache(ctx).get,
            keep=keep if in_spec else None, limit=page.limit, offset=page.offset,
            paused=paused, exclude_stale=exclude_stale, dag_id_pattern=dag_id_pattern,
            dag_id_prefix=dag_id_prefix, has_import_errors=has_import_errors, order=order)
    except UnknownOrderField as exc:
        raise bad_order(exc) from None


def _responses(rows: list[tuple[DagRow, DagSpec | None]],
               errored: set[str]) -> list[DAGResponse]:
    return [dag_response(d, s, has_import_errors=d.dag_id in errored) for d, s in rows]


@router.get("/dags", response_model=DAGCollectionResponse)
async def get_dags(
    page: Annotated[Page, Depends()],
    tags: Annotated[list[str] | None, Query()] = None,
    tags_match_mode: Literal["any", "all"] = "any",
    owners: Annotated[list[str] | None, Query()] = None,
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
    dag_display_name_pattern: str | None = None,
    exclude_stale: bool = True,
    paused: bool | None = None,
    has_import_errors: bool | None = None,
    is_favorite: bool | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> DAGCollectionResponse:
    """The caller's DAGs. ``dag_id_pattern`` is a case-insensitive substring where ``%``
    and ``_`` are wildcards; ``limit`` above 100 is silently capped; ``is_favorite`` keeps
    the caller's favourites (or, false, all but them)."""
    found = await _page_of_dags(
        ctx, principal, page=page, paused=paused, exclude_stale=exclude_stale,
        dag_id_pattern=dag_id_pattern, dag_id_prefix=dag_id_prefix_pattern,
        display_pattern=dag_display_name_pattern, tags=tags, tags_mode=tags_match_mode,
        owners=owners, has_import_errors=has_import_errors,
        order=order_list(order_by, "dag_id"), is_favorite=is_favorite)
    return DAGCollectionResponse(dags=_responses(found.rows, found.errored),
                                 total_entries=found.total)


@router.patch("/dags", response_model=DAGCollectionResponse)
async def patch_dags(
    body: DAGPatchBody,
    page: Annotated[Page, Depends()],
    update_mask: Annotated[list[str] | None, Query()] = None,
    tags: Annotated[list[str] | None, Query()] = None,
    tags_match_mode: Literal["any", "all"] = "any",
    owners: Annotated[list[str] | None, Query()] = None,
    dag_id_pattern: str | None = None,
    exclude_stale: bool = True,
    paused: bool | None = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> DAGCollectionResponse:
    """Pause or unpause every DAG of one page of the listing (Airflow's bulk patch)."""
    if update_mask and update_mask != ["is_paused"]:
        raise ApiError(400, "Only `is_paused` field can be updated through the REST API")
    found = await _page_of_dags(
        ctx, principal, page=page, paused=paused, exclude_stale=exclude_stale,
        dag_id_pattern=dag_id_pattern, dag_id_prefix=None, display_pattern=None,
        tags=tags, tags_mode=tags_match_mode, owners=owners, has_import_errors=None,
        order=["dag_id"])
    updated = []
    for row, spec in found.rows:
        new = await ctx.operations.set_paused(row.dag_id, body.is_paused,
                                              user=principal.username)
        updated.append((new, spec))
    errored = await dag_listing.dags_with_import_errors(ctx.store, (d.dag_id for d, _ in updated))
    return DAGCollectionResponse(dags=_responses(updated, errored), total_entries=found.total)


@router.get("/dags/{dag_id}", response_model=DAGResponse)
async def get_dag(dag_id: str, ctx: ApiContext = Depends(api_context),
                  principal: Principal = Depends(require(READ))) -> DAGResponse:
    found = await dag_listing.dag_with_spec(ctx.store, dag_id, tenant=principal.tenant,
                                            spec_of=spec_cache(ctx).get)
    if found is None:
        raise dag_not_found(dag_id)
    row, spec, errored = found
    return dag_response(row, spec, has_import_errors=errored).model_copy(
        update={"allowed_run_types": run_types_for(principal)})


@router.get("/dags/{dag_id}/details", response_model=DAGDetailsResponse)
async def get_dag_details(dag_id: str, ctx: ApiContext = Depends(api_context),
                          principal: Principal = Depends(require(READ))) -> DAGDetailsResponse:
    found = await dag_listing.dag_detail(ctx.store, dag_id, tenant=principal.tenant,
                                         spec_of=spec_cache(ctx).get)
    if found is None:
        raise dag_not_found(dag_id)
    return dag_details_response(found.row, found.spec, found.version,
                                has_import_errors=found.has_import_errors,
                                active_runs=found.active_runs,
                                asset_expression=found.asset_expression).model_copy(
        update={"allowed_run_types": run_types_for(principal),
                "is_favorite": dag_id in await favorites.of_user(ctx.store,
                                                                 principal.username)})


@router.patch("/dags/{dag_id}", response_model=DAGResponse)
async def patch_dag(
    dag_id: str,
    body: DAGPatchBody,
    update_mask: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(EDIT_RUNS)),
) -> DAGResponse:
    """Pause or unpause (``update_mask=is_paused``, body ``{"is_paused": false}``)."""
    await require_dag(ctx, dag_id, principal, f"Dag with id: {dag_id} was not found")
    if update_mask and update_mask != ["is_paused"]:
        raise ApiError(400, "Only `is_paused` field can be updated through the REST API")
    row = await ctx.operations.set_paused(dag_id, body.is_paused, user=principal.username)
    spec = spec_cache(ctx).get(await dag_listing.current_version(ctx.store, dag_id))
    errored = await dag_listing.dags_with_import_errors(ctx.store, [dag_id])
    return _responses([(row, spec)], errored)[0]


@router.delete("/dags/{dag_id}", status_code=204, response_class=Response,
               responses={409: {"description": "task instances are still running"}})
async def delete_dag(dag_id: str, ctx: ApiContext = Depends(api_context),
                     principal: Principal = Depends(require(MANAGE_DAGS))) -> Response:
    """Delete the DAG with its versions, runs, task instances and XComs (204). Refused with
    409 while any of its task instances is queued or running, as Airflow does."""
    await require_dag(ctx, dag_id, principal, f"Dag with id: {dag_id} was not found")
    await dag_deletion.delete_dag(ctx.operations, dag_id, user=principal.username)
    return Response(status_code=204)
