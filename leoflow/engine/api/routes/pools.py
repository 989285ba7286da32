"""Routes: Airflow 3 pools (``/api/v2/pools``), with their slot counts.

Pools are shared by every tenant (they bound what the executors run at once, which is a
property of the control plane). Reads need READ, writes MANAGE_RESOURCES (the Op role) in
the operator's tenant (``leoflow.engine.auth.pools_access``): another tenant's Op cannot
starve everyone by setting a pool to 0.
``default_pool`` cannot be deleted (400) nor renamed. A deferred task never holds a pool
slot in Leoflow (it waits in the trigger runner), so ``include_deferred`` can only be false;
``deferred_slots`` counts the slots its deferred tasks would take. Airflow's -1
("unlimited") is not supported.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.routes.auth import MAX_INT32, Paging, paging, update_mask
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import MANAGE_RESOURCES, READ, Principal
from leoflow.engine.auth.pools_access import check_may_change_pools
from leoflow.engine.services.limits import MAX_DESCRIPTION_CHARS
from leoflow.engine.store import audit, pools
from leoflow.engine.store.rows import PoolRow
from leoflow.engine.store.tables import DEFAULT_POOL

router = APIRouter(prefix="/api/v2/pools", tags=["Pool"])

ORDER_FIELDS = {"name": "name", "pool": "name", "id": "name", "slots": "slots"}
NAME_LENGTH = 256


class PoolBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_LENGTH)
    slots: int = Field(ge=0, le=MAX_INT32)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    include_deferred: bool = False
    team_name: str | None = Field(default=None, max_length=50)


class PoolPatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pool: str | None = Field(default=None, max_length=NAME_LENGTH)
    slots: int | None = Field(default=None, ge=0, le=MAX_INT32)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    include_deferred: bool | None = None
    team_name: str | None = Field(default=None, max_length=50)


class PoolResponse(BaseModel):
    name: str
    slots: int
    description: str | None
    include_deferred: bool
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int
    team_name: str | None = None


class PoolCollectionResponse(BaseModel):
    pools: list[PoolResponse]
    total_entries: int


async def _usage(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    return {state: await pools.slot_usage(conn, (state,))
            for state in ("running", "queued", "scheduled", "deferred")}


def _response(row: PoolRow, usage: dict[str, dict[str, int]]) -> PoolResponse:
    running = usage["running"].get(row.name, 0)
    queued = usage["queued"].get(row.name, 0)
    occupied = running + queued
    return PoolResponse(
        name=row.name, slots=row.slots, description=row.description, include_deferred=False,
        occupied_slots=occupied, running_slots=running, queued_slots=queued,
        scheduled_slots=usage["scheduled"].get(row.name, 0),
        open_slots=row.slots - occupied, deferred_slots=usage["deferred"].get(row.name, 0))


def _check(name: str | None, description: str | None, include_deferred: bool | None) -> None:
    if name is not None and (not name or "\x00" in name):
        raise ApiError(400, "pool name must be a non-empty string without NUL characters")
    if description is not None and "\x00" in description:
        raise ApiError(400, "description cannot contain NUL characters")
    if include_deferred:
        raise ApiError(400, "include_deferred is not supported: deferred tasks never hold "
                            "pool slots in Leoflow")


def _not_found(name: str) -> NotFound:
    return NotFound(f"The Pool with name: `{name}` was not found")


def _pools_changed(ctx: ApiContext) -> None:
    # The scheduler caches pool sizes for a second; let it see the change at once.
    scheduler = getattr(ctx.operations, "scheduler", None)
    refresh = getattr(scheduler, "refresh_pools", None)
    if callable(refresh):
        refresh()


def _storable(name: str) -> bool:
    return 0 < len(name) <= NAME_LENGTH and "\x00" not in name


@router.get("", response_model=PoolCollectionResponse)
async def get_pools(page: Paging = Depends(paging),
                    pool_name_pattern: str | None = Query(None, max_length=NAME_LENGTH),
                    _who: Principal = Depends(require(READ)),
                    ctx: ApiContext = Depends(api_context)) -> PoolCollectionResponse:
    order = page.order(ORDER_FIELDS, "name")
    async with ctx.store.connect() as conn:
        if pool_name_pattern:
            # Few pools exist: filter in memory, then page (a "contains", as Airflow).
            everything = await pools.list_pools(conn, limit=None, order=order)
            needle = pool_name_pattern.replace("%", "").lower()
            rows = [r for r in everything.items if needle in r.name.lower()]
            total, items = len(rows), rows[page.offset:page.offset + page.limit]
        else:
            result = await pools.list_pools(conn, limit=page.limit, offset=page.offset,
                                            order=order)
            total, items = result.total, list(result.items)
        usage = await _usage(conn)
    return PoolCollectionResponse(pools=[_response(r, usage) for r in items],
                                  total_entries=total)


@router.post("", status_code=201, response_model=PoolResponse)
async def post_pool(body: PoolBody, who: Principal = Depends(require(MANAGE_RESOURCES)),
                    ctx: ApiContext = Depends(api_context)) -> PoolResponse:
    check_may_change_pools(who)
    _check(body.name, body.description, body.include_deferred)
    async with ctx.store.begin() as conn:
        if await pools.get_pool(conn, body.name) is not None:
            raise ApiError(409, f"Pool with name: `{body.name}` already exists")
        row = await pools.upsert_pool(conn, body.name, body.slots, body.description)
        await audit.record_event(conn, "post_pool", username=who.username,
                                 extra={"pool": body.name, "slots": body.slots})
        usage = await _usage(conn)
    _pools_changed(ctx)
    return _response(row, usage)


@router.get("/{pool_name}", response_model=PoolResponse)
async def get_pool(pool_name: str, _who: Principal = Depends(require(READ)),
                   ctx: ApiContext = Depends(api_context)) -> PoolResponse:
    if not _storable(pool_name):
        raise _not_found(pool_name)
    async with ctx.store.connect() as conn:
        row = await pools.get_pool(conn, pool_name)
        if row is None:
            raise _not_found(pool_name)
        return _response(row, await _usage(conn))


@router.patch("/{pool_name}", response_model=PoolResponse)
async def patch_pool(
    pool_name: str, body: PoolPatchBody,
    update_mask_: list[str] | None = Query(None, alias="update_mask"),
    who: Principal = Depends(require(MANAGE_RESOURCES)),
    ctx: ApiContext = Depends(api_context),
) -> PoolResponse:
    """Changes ``slots`` and ``description`` (those in ``update_mask`` when given)."""
    check_may_change_pools(who)
    allowed = {"pool", "name", "slots", "description", "include_deferred"}
    mask = update_mask(update_mask_, allowed)
    names = (body.model_fields_set & allowed) if mask is None else mask
    _check(body.pool, body.description, body.include_deferred if "include_deferred" in names
           else None)
    if ({"pool", "name"} & names) and body.pool not in (None, pool_name):
        raise ApiError(400, "renaming a pool is not supported; create a new pool instead")
    if pool_name == DEFAULT_POOL and "description" in names:
        raise ApiError(400, "Only slots and included_deferred can be modified on Default Pool")
    if not _storable(pool_name):
        raise _not_found(pool_name)
    async with ctx.store.begin() as conn:
        row = await pools.get_pool(conn, pool_name)
        if row is None:
            raise _not_found(pool_name)
        slots = body.slots if "slots" in names and body.slots is not None else row.slots
        description = body.description if "description" in names else row.description
        row = await pools.upsert_pool(conn, pool_name, slots, description)
        await audit.record_event(conn, "patch_pool", username=who.username,
                                 extra={"pool": pool_name, "fields": sorted(names)})
        usage = await _usage(conn)
    _pools_changed(ctx)
    return _response(row, usage)


@router.delete("/{pool_name}", status_code=204)
async def delete_pool(pool_name: str, who: Principal = Depends(require(MANAGE_RESOURCES)),
                      ctx: ApiContext = Depends(api_context)) -> Response:
    check_may_change_pools(who)
    if pool_name == DEFAULT_POOL:
        raise ApiError(400, "Default Pool can't be deleted")
    if not _storable(pool_name):
        raise _not_found(pool_name)
    async with ctx.store.begin() as conn:
        if not await pools.delete_pool(conn, pool_name):
            raise _not_found(pool_name)
        await audit.record_event(conn, "delete_pool", username=who.username,
                                 extra={"pool": pool_name})
    _pools_changed(ctx)
    return Response(status_code=204)
