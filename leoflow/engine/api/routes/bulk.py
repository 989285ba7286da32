"""Airflow's bulk ``PATCH /api/v2/variables``, ``/connections`` and ``/pools``: create,
update and delete many entities in one request (the Airflow UI's multi-select delete and
its import use them).

The action rules are ``services.bulk``'s; each entity goes through the same route code as
a single write (checks, masking, tenant, audit), so nothing differs but the batching.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, caller_status
from leoflow.engine.api.models.common import no_nul
from leoflow.engine.api.routes import connections, pools, variables
from leoflow.engine.api.routes.auth import auth_service
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.errors import CallerError
from leoflow.engine.auth.permissions import MANAGE_RESOURCES, Principal
from leoflow.engine.auth.service import AuthService
from leoflow.engine.services import bulk
from leoflow.engine.services.errors import ServiceError
from leoflow.errors import LeoflowError

router = APIRouter(prefix="/api/v2", dependencies=[Depends(no_nul)])


class BulkAction(BaseModel):
    """One action of Airflow's ``BulkBody``; ``entities`` are checked against the
    resource's body model (or, for delete, are keys or such bodies)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["create", "update", "delete"]
    entities: list[Any]
    action_on_existence: Literal["fail", "skip", "overwrite"] = "fail"
    action_on_non_existence: Literal["fail", "skip"] = "fail"
    update_mask: list[str] | None = None


class BulkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions: list[BulkAction]


class BulkActionResponse(BaseModel):
    success: list[str]
    errors: list[dict[str, Any]]


class BulkResponse(BaseModel):
    create: BulkActionResponse | None = None
    update: BulkActionResponse | None = None
    delete: BulkActionResponse | None = None


def status_of(exc: LeoflowError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, ServiceError):
        return exc.status
    if isinstance(exc, CallerError):
        return caller_status(exc)[0]
    return 400


async def _exists(read: Any) -> bool:
    try:
        await read
    except LeoflowError as exc:
        if status_of(exc) == 404:
            return False
        raise
    return True


def _parse(model: type[BaseModel], entities: list[Any], index: int) -> list[Any]:
    parsed = []
    for n, entity in enumerate(entities):
        try:
            parsed.append(model.model_validate(entity))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", "actions", index, "entities", n, *e["loc"])}
                 for e in exc.errors(include_url=False)]) from None
    return parsed


def delete_keys(entities: list[Any], key_field: str, index: int) -> list[str]:
    """The keys a delete action names: each entity a key, or an object holding it under
    ``key_field``; anything else is a 422 (as Airflow's validation answers)."""
    keys = []
    for n, entity in enumerate(entities):
        key = entity.get(key_field) if isinstance(entity, dict) else entity
        if not isinstance(key, str):
            raise RequestValidationError([{
                "type": "string_type", "loc": ("body", "actions", index, "entities", n),
                "msg": f"a key or an object with a string {key_field!r}", "input": entity}])
        keys.append(key)
    return keys


async def _apply(body: BulkBody, target: bulk.BulkTarget[Any], model: type[BaseModel],
                 key_field: str) -> BulkResponse:
    results: dict[str, BulkActionResponse] = {}
    for index, action in enumerate(body.actions):
        if action.action == "delete":
            outcome = await bulk.delete(target, delete_keys(action.entities, key_field, index),
                                        action.action_on_non_existence)
        elif action.action == "create":
            outcome = await bulk.create(target, _parse(model, action.entities, index),
                                        action.action_on_existence)
        else:
            outcome = await bulk.update(target, _parse(model, action.entities, index),
                                        action.action_on_non_existence, action.update_mask)
        results[action.action] = BulkActionResponse(success=outcome.success,
                                                    errors=outcome.errors)
    return BulkResponse(**results)


@router.patch("/variables", response_model=BulkResponse, tags=["Variable"])
async def bulk_variables(body: BulkBody, who: Principal = Depends(require(MANAGE_RESOURCES)),
                         auth: AuthService = Depends(auth_service)) -> BulkResponse:
    async def update(entity: Any, mask: list[str] | None) -> None:
        await variables.patch_variable(entity.key, entity, update_mask_=mask, who=who,
                                       auth=auth)

    async def create(entity: Any) -> None:
        await variables.post_variable(entity, who=who, auth=auth)

    async def delete(key: str) -> None:
        await variables.delete_variable(key, who=who, auth=auth)

    async def exists(key: str) -> bool:
        return await _exists(variables.get_variable(key, who=who, auth=auth))

    target = bulk.BulkTarget(noun="variables", key_of=lambda e: e.key, exists=exists,
                             create=create, update=update, delete=delete, status_of=status_of)
    return await _apply(body, target, variables.VariableBody, "key")


@router.patch("/connections", response_model=BulkResponse, tags=["Connection"])
async def bulk_connections(body: BulkBody, who: Principal = Depends(require(MANAGE_RESOURCES)),
                           auth: AuthService = Depends(auth_service)) -> BulkResponse:
    async def update(entity: Any, mask: list[str] | None) -> None:
        await connections.patch_connection(entity.connection_id, entity, update_mask_=mask,
                                           who=who, auth=auth)

    async def create(entity: Any) -> None:
        await connections.post_connection(entity, who=who, auth=auth)

    async def delete(key: str) -> None:
        await connections.delete_connection(key, who=who, auth=auth)

    async def exists(key: str) -> bool:
        return await _exists(connections.get_connection(key, who=who, auth=auth))

    target = bulk.BulkTarget(noun="connections", key_of=lambda e: e.connection_id,
                             exists=exists, create=create, update=update, delete=delete,
                             status_of=status_of)
    return await _apply(body, target, connections.ConnectionBody, "connection_id")


@router.patch("/pools", response_model=BulkResponse, tags=["Pool"])
async def bulk_pools(body: BulkBody, who: Principal = Depends(require(MANAGE_RESOURCES)),
                     ctx: ApiContext = Depends(api_context)) -> BulkResponse:
    async def update(entity: Any, mask: list[str] | None) -> None:
        patch = pools.PoolPatchBody(pool=entity.name, slots=entity.slots,
                                    description=entity.description)
        await pools.patch_pool(entity.name, patch, update_mask_=mask or ["slots",
                                                                        "description"],
                               who=who, ctx=ctx)

    async def create(entity: Any) -> None:
        await pools.post_pool(entity, who=who, ctx=ctx)

    async def delete(key: str) -> None:
        await pools.delete_pool(key, who=who, ctx=ctx)

    async def exists(key: str) -> bool:
        return await _exists(pools.get_pool(key, _who=who, ctx=ctx))

    target = bulk.BulkTarget(noun="pools", key_of=lambda e: e.name, exists=exists,
                             create=create, update=update, delete=delete, status_of=status_of)
    return await _apply(body, target, pools.PoolBody, "name")
