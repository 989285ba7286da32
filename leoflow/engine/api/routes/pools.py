"""Routes: Airflow 3 pools (``/api/v2/pools``), with their slot counts.

Pools are shared by every tenant (they bound what the executors run at once, which is a
property of the control plane). Reads need READ, writes MANAGE_RESOURCES (the Op role) in
the operator's tenant (``leoflow.engine.auth.pools_access``): another tenant's Op cannot
starve everyone by setting a pool to 0.
``default_pool`` cannot be deleted (400) nor renamed. A deferred task never holds a pool
slot in Leoflow (it waits in the trigger runner), so ``include_deferred`` can only be false;
``deferred_slots`` counts the slots its deferred tasks would take. Airflow's -1
("unlimited") is not supported. The rules and transactions are
``leoflow.engine.services.pools``'s; this module parses and answers.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError
from leoflow.engine.api.routes.auth import MAX_INT32, Paging, paging, update_mask
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import MANAGE_RESOURCES, READ, Principal
from leoflow.engine.auth.pools_access import check_may_change_pools
from leoflow.engine.services import pools as pool_service
from leoflow.engine.services.limits import MAX_DESCRIPTION_CHARS
from leoflow.engine.services.pools import NAME_LENGTH, PoolRow, Usage

router = APIRouter(prefix="/api/v2/pools", tags=["Pool"])

ORDER_FIELDS = {"name": "name", "pool": "name", "id": "name", "slots": "slots"}


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


def _response(row: PoolRow, usage: Usage) -> PoolResponse:
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


def _scheduler(ctx: ApiContext) -> object | None:
    return getattr(ctx.operations, "scheduler", None)  # None: an auth-only API


@router.get("", response_model=PoolCollectionResponse)
async def get_pools(page: Paging = Depends(paging),
                    pool_name_pattern: str | None = Query(None, max_length=NAME_LENGTH),
                    _who: Principal = Depends(require(READ)),
                    ctx: ApiContext = Depends(api_context)) -> PoolCollectionResponse:
    found = await pool_service.list_pools(ctx.store, order=page.order(ORDER_FIELDS, "name"),
                                          limit=page.limit, offset=page.offset,
                                          name_pattern=pool_name_pattern)
    return PoolCollectionResponse(pools=[_response(r, found.usage) for r in found.items],
                                  total_entries=found.total)


@router.post("", status_code=201, response_model=PoolResponse)
async def post_pool(body: PoolBody, who: Principal = Depends(require(MANAGE_RESOURCES)),
                    ctx: ApiContext = Depends(api_context)) -> PoolResponse:
    check_may_change_pools(who)
    _check(body.name, body.description, body.include_deferred)
    row, usage = await pool_service.create_pool(ctx.store, _scheduler(ctx), body.name,
                                                body.slots, body.description,
                                                user=who.username)
    return _response(row, usage)


@router.get("/{pool_name}", response_model=PoolResponse)
async def get_pool(pool_name: str, _who: Principal = Depends(require(READ)),
                   ctx: ApiContext = Depends(api_context)) -> PoolResponse:
    return _response(*await pool_service.get_pool(ctx.store, pool_name))


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
    row, usage = await pool_service.update_pool(
        ctx.store, _scheduler(ctx), pool_name, slots=body.slots, description=body.description,
        fields=names, user=who.username)
    return _response(row, usage)


@router.delete("/{pool_name}", status_code=204)
async def delete_pool(pool_name: str, who: Principal = Depends(require(MANAGE_RESOURCES)),
                      ctx: ApiContext = Depends(api_context)) -> Response:
    check_may_change_pools(who)
    await pool_service.delete_pool(ctx.store, _scheduler(ctx), pool_name, user=who.username)
    return Response(status_code=204)
