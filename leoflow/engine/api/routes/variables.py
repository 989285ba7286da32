"""Routes: Airflow 3 variables (``/api/v2/variables``), in the caller's tenant.

Reads need READ, writes MANAGE_RESOURCES (the Op role). Values are encrypted at rest
(``is_encrypted`` is true) and masked in answers when their key names a secret, as Airflow
does (see ``leoflow.engine.auth.secrets``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from leoflow.engine.api.errors import ApiError
from leoflow.engine.api.routes.auth import Paging, auth_service, paging, update_mask
from leoflow.engine.api.security import require
from leoflow.engine.auth.permissions import MANAGE_RESOURCES, READ, Principal
from leoflow.engine.auth.secrets import VariableView
from leoflow.engine.auth.service import AuthService

router = APIRouter(prefix="/api/v2/variables", tags=["Variable"])

ORDER_FIELDS = {"key": "key", "id": "key", "description": "description",
                "is_encrypted": "is_encrypted"}


class VariableBody(BaseModel):
    """Airflow's ``VariableBody``; ``value`` is required (it may be null) and any JSON value
    (stored as text: non-strings as JSON). ``team_name`` is accepted and ignored."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=250)
    value: JsonValue
    description: str | None = None
    team_name: str | None = Field(default=None, max_length=50)


class VariableResponse(BaseModel):
    key: str
    value: str | None
    description: str | None
    is_encrypted: bool
    team_name: str | None = None


class VariableCollectionResponse(BaseModel):
    variables: list[VariableResponse]
    total_entries: int


def _response(view: VariableView) -> VariableResponse:
    return VariableResponse(key=view.key, value=view.value, description=view.description,
                            is_encrypted=view.is_encrypted)


@router.get("", response_model=VariableCollectionResponse)
async def get_variables(
    page: Paging = Depends(paging),
    variable_key_pattern: str | None = Query(None, max_length=250),
    who: Principal = Depends(require(READ)), auth: AuthService = Depends(auth_service),
) -> VariableCollectionResponse:
    result = await auth.secrets.list_variables(
        who, limit=page.limit, offset=page.offset, order=page.order(ORDER_FIELDS, "key"),
        key_pattern=variable_key_pattern)
    return VariableCollectionResponse(variables=[_response(v) for v in result.items],
                                      total_entries=result.total)


@router.post("", status_code=201, response_model=VariableResponse)
async def post_variable(body: VariableBody, who: Principal = Depends(require(MANAGE_RESOURCES)),
                        auth: AuthService = Depends(auth_service)) -> VariableResponse:
    view = await auth.secrets.create_variable(who, body.key, body.value,
                                              description=body.description)
    return _response(view)


@router.get("/{variable_key:path}", response_model=VariableResponse)
async def get_variable(variable_key: str, who: Principal = Depends(require(READ)),
                       auth: AuthService = Depends(auth_service)) -> VariableResponse:
    return _response(await auth.secrets.get_variable(who, variable_key))


@router.patch("/{variable_key:path}", response_model=VariableResponse)
async def patch_variable(
    variable_key: str, body: VariableBody,
    update_mask_: list[str] | None = Query(None, alias="update_mask"),
    who: Principal = Depends(require(MANAGE_RESOURCES)), auth: AuthService = Depends(auth_service),
) -> VariableResponse:
    """Changes ``value`` and ``description`` (those in ``update_mask`` when given). A value
    sent back masked (``***``) keeps the stored secret."""
    if body.key != variable_key:
        raise ApiError(400, "Invalid body, key from request body doesn't match uri parameter")
    mask = update_mask(update_mask_, {"value", "description"})
    given = body.model_fields_set & {"value", "description"}
    fields = given if mask is None else mask
    changes = {name: getattr(body, name) for name in fields}
    return _response(await auth.secrets.update_variable(who, variable_key, changes))


@router.delete("/{variable_key:path}", status_code=204)
async def delete_variable(variable_key: str,
                          who: Principal = Depends(require(MANAGE_RESOURCES)),
                          auth: AuthService = Depends(auth_service)) -> Response:
    await auth.secrets.delete_variable(who, variable_key)
    return Response(status_code=204)
