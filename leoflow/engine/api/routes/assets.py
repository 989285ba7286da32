"""Airflow 3.3's ``/api/v2/assets…`` routes: assets, aliases, events (list and create),
queued events per DAG and per asset, materialize, and a run's upstream asset events.

Reading needs the ``read`` permission (Viewer and up, as Airflow's asset GETs); posting an
event, forgetting queued events and materializing change what runs, which Airflow's simple
auth manager leaves to Op and up: here the ``manage_resources`` permission (Op, Admin), and
materializing also needs ``edit_runs`` as triggering does. Everything is scoped to the
caller's tenant: another tenant's asset answers exactly as one that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, Forbidden
from leoflow.engine.api.models.asset_convert import (
    alias_response,
    asset_response,
    event_response,
    queued_response,
)
from leoflow.engine.api.models.assets import (
    AssetAliasCollectionResponse,
    AssetAliasResponse,
    AssetCollectionResponse,
    AssetEventCollectionResponse,
    AssetEventResponse,
    AssetResponse,
    CreateAssetEventsBody,
    MaterializeAssetBody,
    QueuedEventCollectionResponse,
    QueuedEventResponse,
)
from leoflow.engine.api.models.common import (
    INT32_MAX,
    INT32_MIN,
    RUN_ID_PATTERN,
    Page,
    QueryDateTime,
    check_json_body,
    no_nul,
    order_list,
)
from leoflow.engine.api.models.convert import display_name
from leoflow.engine.api.models.dag_runs import DAGRunResponse
from leoflow.engine.api.routes.dag_runs import require_run, run_response
from leoflow.engine.api.routes.dags import bad_order, spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import (
    EDIT_RUNS,
    MANAGE_RESOURCES,
    READ,
    Principal,
    role_allows,
)
from leoflow.engine.services import asset_queries, dag_listing
from leoflow.engine.services.errors import InvalidConf, InvalidParams
from leoflow.engine.services.reads import read
from leoflow.engine.services.rows import Range, UnknownOrderField

router = APIRouter(prefix="/api/v2", tags=["Asset"], dependencies=[Depends(no_nul)])

AssetId = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)]
# asset ids in queries and bodies reach an INTEGER column, as path ones
QueryAssetId = Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)]
WRITE_ASSETS = MANAGE_RESOURCES


def _dag_ids(value: list[str] | None) -> list[str] | None:
    """``dag_ids`` repeated, or one comma-separated value (Airflow accepts both)."""
    if value and len(value) == 1 and "," in value[0]:
        return [v for v in value[0].split(",") if v]
    return value


async def _display_names(ctx: ApiContext, dag_ids: Iterable[str]) -> dict[str, str]:
    versions = await dag_listing.current_versions(ctx.store, dag_ids)
    cache = spec_cache(ctx)
    return {dag_id: display_name(dag_id, cache.get(version))
            for dag_id, version in versions.items()}


# -- assets ---------------------------------------------------------------------------------

@router.get("/assets", response_model=AssetCollectionResponse)
async def get_assets(
    page: Annotated[Page, Depends()],
    name_pattern: str | None = None,
    name_prefix_pattern: str | None = None,
    uri_pattern: str | None = None,
    uri_prefix_pattern: str | None = None,
    dag_ids: Annotated[list[str] | None, Query()] = None,
    only_active: bool = True,
    order_by: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> AssetCollectionResponse:
    """The tenant's assets (``only_active``, the default: named by a present DAG), with the
    DAGs scheduling on, producing and reading each, its aliases, watchers and last event."""
    try:
        items, total = await read(
            ctx.store, asset_queries.list_assets, tenant=principal.tenant,
            name_pattern=name_pattern, name_prefix=name_prefix_pattern,
            uri_pattern=uri_pattern, uri_prefix=uri_prefix_pattern,
            dag_ids=_dag_ids(dag_ids), only_active=only_active,
            order=order_list(order_by, "id"), limit=page.limit, offset=page.offset)
    except UnknownOrderField as exc:
        raise bad_order(exc) from None
    return AssetCollectionResponse(assets=[asset_response(a) for a in items],
                                   total_entries=total)


@router.get("/assets/aliases", response_model=AssetAliasCollectionResponse)
async def get_asset_aliases(
    page: Annotated[Page, Depends()],
    name_pattern: str | None = None,
    name_prefix_pattern: str | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> AssetAliasCollectionResponse:
    try:
        rows, total = await read(
            ctx.store, asset_queries.list_aliases, tenant=principal.tenant,
            name_pattern=name_pattern, name_prefix=name_prefix_pattern,
            order=order_list(order_by, "id"), limit=page.limit, offset=page.offset)
    except UnknownOrderField as exc:
        raise bad_order(exc) from None
    return AssetAliasCollectionResponse(asset_aliases=[alias_response(r) for r in rows],
                                        total_entries=total)


@router.get("/assets/aliases/{asset_alias_id}", response_model=AssetAliasResponse)
async def get_asset_alias(asset_alias_id: AssetId, ctx: ApiContext = Depends(api_context),
                          principal: Principal = Depends(require(READ))) -> AssetAliasResponse:
    row = await read(ctx.store, asset_queries.get_alias, tenant=principal.tenant,
                     alias_id=asset_alias_id)
    return alias_response(row)


# -- events ---------------------------------------------------------------------------------

class EventRanges:
    """``timestamp_gte``, ``timestamp_gt``, ``timestamp_lte``, ``timestamp_lt``."""

    def __init__(self, timestamp_gte: QueryDateTime | None = None,
                 timestamp_gt: QueryDateTime | None = None,
                 timestamp_lte: QueryDateTime | None = None,
                 timestamp_lt: QueryDateTime | None = None) -> None:
        self.range = Range(gte=timestamp_gte, gt=timestamp_gt, lte=timestamp_lte,
                           lt=timestamp_lt)


@router.get("/assets/events", response_model=AssetEventCollectionResponse)
async def get_asset_events(
    page: Annotated[Page, Depends()],
    ranges: Annotated[EventRanges, Depends()],
    order_by: Annotated[list[str] | None, Query()] = None,
    asset_id: QueryAssetId = None,
    source_dag_id: str | None = None,
    source_task_id: str | None = None,
    source_run_id: str | None = None,
    source_map_index: Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)] = None,
    name_pattern: str | None = None,
    name_prefix_pattern: str | None = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> AssetEventCollectionResponse:
    """The tenant's asset events, oldest first unless ``order_by`` says otherwise, each with
    the runs it was consumed by."""
    try:
        items, total = await read(
            ctx.store, asset_queries.list_events, tenant=principal.tenant, asset_id=asset_id,
            source_dag_id=source_dag_id, source_task_id=source_task_id,
            source_run_id=source_run_id, source_map_index=source_map_index,
            name_pattern=name_pattern, name_prefix=name_prefix_pattern,
            timestamp=ranges.range, order=order_list(order_by, "timestamp"),
            limit=page.limit, offset=page.offset)
    except UnknownOrderField as exc:
        raise bad_order(exc) from None
    return AssetEventCollectionResponse(asset_events=[event_response(e) for e in items],
                                        total_entries=total)


@router.post("/assets/events", response_model=AssetEventResponse)
async def create_asset_event(body: CreateAssetEventsBody,
                             ctx: ApiContext = Depends(api_context),
                             principal: Principal = Depends(require(WRITE_ASSETS))
                             ) -> AssetEventResponse:
    """Record an event on the asset (its ``extra`` gains ``from_rest_api: true``, as in
    Airflow); consumers whose condition it completes start a run at once."""
    check_json_body(body.extra, "extra")
    detail = await asset_queries.post_event(ctx.operations, tenant=principal.tenant,
                                            asset_id=body.asset_id, extra=body.extra,
                                            partition_key=body.partition_key)
    return event_response(detail)


@router.get("/dags/{dag_id}/dagRuns/{dag_run_id}/upstreamAssetEvents",
            response_model=AssetEventCollectionResponse, tags=["DagRun"])
async def get_upstream_asset_events(dag_id: str, dag_run_id: str,
                                    ctx: ApiContext = Depends(api_context),
                                    principal: Principal = Depends(require(READ))
                                    ) -> AssetEventCollectionResponse:
    """The asset events a run consumed (empty unless it is asset-triggered)."""
    run = await require_run(ctx, dag_id, dag_run_id, principal)
    items = await read(ctx.store, asset_queries.upstream_events, run)
    return AssetEventCollectionResponse(asset_events=[event_response(e) for e in items],
                                        total_entries=len(items))


# -- materialize ----------------------------------------------------------------------------

@router.post("/assets/{asset_id}/materialize", response_model=DAGRunResponse,
             responses={400: {"description": "bad conf or run id"},
                        404: {"description": "no DAG produces the asset"},
                        409: {"description": "several DAGs produce the asset, or the run "
                                             "exists"}})
async def materialize_asset(asset_id: AssetId,
                            body: Annotated[MaterializeAssetBody | None, Body()] = None,
                            ctx: ApiContext = Depends(api_context),
                            principal: Principal = Depends(require(WRITE_ASSETS))
                            ) -> DAGRunResponse:
    """Trigger the one DAG whose task produces the asset (run type
    ``asset_materialization``; shown as ``manual`` to clients that predate it)."""
    body = body or MaterializeAssetBody()
    dag_id = await read(ctx.store, asset_queries.producing_dag, tenant=principal.tenant,
                        asset_id=asset_id)
    if not role_allows(principal.role, EDIT_RUNS):
        raise Forbidden(f"User is not authorized to trigger a run for Dag: {dag_id} that "
                        "materializes this asset")
    if body.dag_run_id is not None and not re.match(RUN_ID_PATTERN, body.dag_run_id):
        raise ApiError(400, f"The run_id provided '{body.dag_run_id}' does not match regex "
                            f"pattern '{RUN_ID_PATTERN}'")
    check_json_body(body.conf, "conf")
    check_json_body(body.note, "note")
    try:
        run = await asset_queries.materialize(
            ctx.operations, dag_id=dag_id, conf=body.conf, logical_date=body.logical_date,
            run_id=body.dag_run_id, note=body.note, partition_key=body.partition_key,
            user=principal.username)
    except (InvalidParams, InvalidConf) as exc:
        raise ApiError(400, exc.message) from None
    return await run_response(ctx, run)


# -- queued events --------------------------------------------------------------------------

async def _queued(ctx: ApiContext, principal: Principal, *, dag_id: str | None = None,
                  asset_id: int | None = None, before: datetime | None = None
                  ) -> list[QueuedEventResponse]:
    rows = await read(ctx.store, asset_queries.queued_events, tenant=principal.tenant,
                      dag_id=dag_id, asset_id=asset_id, before=before)
    names = await _display_names(ctx, {r.dag_id for r in rows})
    return [queued_response(r, names.get(r.dag_id, r.dag_id)) for r in rows]


@router.get("/assets/{asset_id}/queuedEvents", response_model=QueuedEventCollectionResponse)
async def get_asset_queued_events(asset_id: AssetId, before: QueryDateTime | None = None,
                                  ctx: ApiContext = Depends(api_context),
                                  principal: Principal = Depends(require(READ))
                                  ) -> QueuedEventCollectionResponse:
    """The consumers waiting with an event of this asset queued (``before``: queued before)."""
    items = await _queued(ctx, principal, asset_id=asset_id, before=before)
    return QueuedEventCollectionResponse(queued_events=items, total_entries=len(items))


@router.delete("/assets/{asset_id}/queuedEvents", status_code=204, response_class=Response)
async def delete_asset_queued_events(asset_id: AssetId, before: QueryDateTime | None = None,
                                     ctx: ApiContext = Depends(api_context),
                                     principal: Principal = Depends(require(WRITE_ASSETS))
                                     ) -> Response:
    await asset_queries.delete_queued_events(ctx.operations, tenant=principal.tenant,
                                             asset_id=asset_id, before=before,
                                             user=principal.username)
    return Response(status_code=204)


@router.get("/assets/{asset_id}", response_model=AssetResponse)
async def get_asset(asset_id: AssetId, ctx: ApiContext = Depends(api_context),
                    principal: Principal = Depends(require(READ))) -> AssetResponse:
    detail = await read(ctx.store, asset_queries.get_asset, tenant=principal.tenant,
                        asset_id=asset_id)
    return asset_response(detail)


@router.get("/dags/{dag_id}/assets/queuedEvents", response_model=QueuedEventCollectionResponse)
async def get_dag_asset_queued_events(dag_id: str, before: QueryDateTime | None = None,
                                      ctx: ApiContext = Depends(api_context),
                                      principal: Principal = Depends(require(READ))
                                      ) -> QueuedEventCollectionResponse:
    """The events this consumer waits on, one per asset (empty for an unknown DAG)."""
    items = await _queued(ctx, principal, dag_id=dag_id, before=before)
    return QueuedEventCollectionResponse(queued_events=items, total_entries=len(items))


@router.delete("/dags/{dag_id}/assets/queuedEvents", status_code=204, response_class=Response)
async def delete_dag_asset_queued_events(dag_id: str, before: QueryDateTime | None = None,
                                         ctx: ApiContext = Depends(api_context),
                                         principal: Principal = Depends(require(WRITE_ASSETS))
                                         ) -> Response:
    await asset_queries.delete_queued_events(ctx.operations, tenant=principal.tenant,
                                             dag_id=dag_id, before=before,
                                             user=principal.username)
    return Response(status_code=204)


@router.get("/dags/{dag_id}/assets/{asset_id}/queuedEvents", response_model=QueuedEventResponse)
async def get_dag_asset_queued_event(dag_id: str, asset_id: AssetId,
                                     before: QueryDateTime | None = None,
                                     ctx: ApiContext = Depends(api_context),
                                     principal: Principal = Depends(require(READ))
                                     ) -> QueuedEventResponse:
    items = await _queued(ctx, principal, dag_id=dag_id, asset_id=asset_id, before=before)
    if not items:
        raise ApiError(404, f"Queued event with dag_id: `{dag_id}` and asset_id: `{asset_id}` "
                            "was not found")
    return items[0]


@router.delete("/dags/{dag_id}/assets/{asset_id}/queuedEvents", status_code=204,
               response_class=Response)
async def delete_dag_asset_queued_event(dag_id: str, asset_id: AssetId,
                                        before: QueryDateTime | None = None,
                                        ctx: ApiContext = Depends(api_context),
                                        principal: Principal = Depends(require(WRITE_ASSETS))
                                        ) -> Response:
    await asset_queries.delete_queued_events(ctx.operations, tenant=principal.tenant,
                                             dag_id=dag_id, asset_id=asset_id, before=before,
                                             user=principal.username)
    return Response(status_code=204)
