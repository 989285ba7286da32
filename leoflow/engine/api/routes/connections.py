"""Routes: Airflow 3 connections (``/api/v2/connections``), in the caller's tenant.

Reads need READ, writes MANAGE_RESOURCES (the Op role). ``password`` and ``extra`` are
encrypted at rest; answers never carry a password in clear (``***``) and mask the
sensitive entries of ``extra`` (see ``leoflow.engine.auth.secrets``).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from leoflow.engine.api.errors import ApiError
from leoflow.engine.api.routes.auth import Paging, auth_service, paging, update_mask
from leoflow.engine.api.security import require
from leoflow.engine.auth.permissions import MANAGE_RESOURCES, READ, Principal
from leoflow.engine.auth.secrets import ConnectionView
from leoflow.engine.auth.service import AuthService

router = APIRouter(prefix="/api/v2/connections", tags=["Connection"])

ORDER_FIELDS = {"connection_id": "connection_id", "conn_id": "connection_id",
                "id": "connection_id", "conn_type": "conn_type", "description": "description",
                "host": "host", "port": "port"}
EDITABLE = {"conn_type", "description", "host", "login", "schema", "port", "password",
            "extra"}


class ConnectionBody(BaseModel):
    """Airflow's ``ConnectionBody``. ``extra`` must be a JSON object in a string (``""``
    means none); ``team_name`` is accepted and ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    connection_id: str = Field(max_length=200, pattern=r"^[\w.-]+$")
    conn_type: str
    description: str | None = None
    host: str | None = None
    login: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    port: int | None = Field(default=None, ge=0, le=65535)
    password: str | None = None
    extra: str | None = None
    team_name: str | None = Field(default=None, max_length=50)

    @field_validator("extra")
    @classmethod
    def extra_is_a_json_object(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            document = json.loads(value)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ValueError("The `extra` field must be a valid JSON object "
                             "(e.g. {\"key\": \"value\"})")
        return value


class ConnectionResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema_: str | None = Field(alias="schema")
    port: int | None
    password: str | None
    extra: str | None
    team_name: str | None = None


class ConnectionCollectionResponse(BaseModel):
    connections: list[ConnectionResponse]
    total_entries: int


def _response(view: ConnectionView) -> ConnectionResponse:
    return ConnectionResponse(
        connection_id=view.connection_id, conn_type=view.conn_type,
        description=view.description, host=view.host, login=view.login, schema=view.schema,
        port=view.port, password=view.password, extra=view.extra)


def _fields(body: ConnectionBody, names: set[str]) -> dict[str, object]:
    return {name: getattr(body, "schema_" if name == "schema" else name) for name in names}


def _given(body: ConnectionBody) -> set[str]:
    return {"schema" if n == "schema_" else n for n in body.model_fields_set} & EDITABLE


@router.get("", response_model=ConnectionCollectionResponse, response_model_by_alias=True)
async def get_connections(
    page: Paging = Depends(paging),
    connection_id_pattern: str | None = Query(None, max_length=250),
    who: Principal = Depends(require(READ)), auth: AuthService = Depends(auth_service),
) -> ConnectionCollectionResponse:
    result = await auth.secrets.list_connections(
        who, limit=page.limit, offset=page.offset,
        order=page.order(ORDER_FIELDS, "connection_id"), id_pattern=connection_id_pattern)
    return ConnectionCollectionResponse(connections=[_response(c) for c in result.items],
                                        total_entries=result.total)


@router.post("", status_code=201, response_model=ConnectionResponse)
async def post_connection(body: ConnectionBody,
                          who: Principal = Depends(require(MANAGE_RESOURCES)),
                          auth: AuthService = Depends(auth_service)) -> ConnectionResponse:
    view = await auth.secrets.create_connection(who, body.connection_id,
                                                _fields(body, EDITABLE))
    return _response(view)


@router.post("/test", status_code=403, include_in_schema=False)
async def test_connection(_who: Principal = Depends(require(MANAGE_RESOURCES))) -> None:
    # Airflow's default ([core] test_connection = Disabled): testing runs a hook in the API
    # server, i.e. user-provided code in the control plane, which Leoflow never does.
    raise ApiError(403, "Testing connections is disabled in Leoflow: connections are tested "
                        "by using them in a task")


@router.post("/enqueue-test", status_code=403, include_in_schema=False)
async def enqueue_connection_test(_who: Principal = Depends(require(MANAGE_RESOURCES))) -> None:
    raise ApiError(403, "Testing connections is disabled in Leoflow: connections are tested "
                        "by using them in a task")


@router.get("/enqueue-test", status_code=403, include_in_schema=False)
async def get_connection_test(_who: Principal = Depends(require(READ))) -> None:
    raise ApiError(403, "Testing connections is disabled in Leoflow: connections are tested "
                        "by using them in a task")


@router.get("/{connection_id}", response_model=ConnectionResponse)
async def get_connection(connection_id: str, who: Principal = Depends(require(READ)),
                         auth: AuthService = Depends(auth_service)) -> ConnectionResponse:
    return _response(await auth.secrets.get_connection(who, connection_id))


@router.patch("/{connection_id}", response_model=ConnectionResponse)
async def patch_connection(
    connection_id: str, body: ConnectionBody,
    update_mask_: list[str] | None = Query(None, alias="update_mask"),
    who: Principal = Depends(require(MANAGE_RESOURCES)),
    auth: AuthService = Depends(auth_service),
) -> ConnectionResponse:
    """Changes the fields given in the body (those in ``update_mask`` when given). A
    password of ``***`` and ``***`` entries in ``extra`` keep the stored secrets."""
    if body.connection_id != connection_id:
        raise ApiError(400, "The connection_id in the request body does not match the URL "
                            "parameter")
    mask = update_mask(update_mask_, EDITABLE)
    names = _given(body) if mask is None else mask
    view = await auth.secrets.update_connection(who, connection_id, _fields(body, names))
    return _response(view)


@router.delete("/{connection_id}", status_code=204)
async def delete_connection(connection_id: str,
                            who: Principal = Depends(require(MANAGE_RESOURCES)),
                            auth: AuthService = Depends(auth_service)) -> Response:
    await auth.secrets.delete_connection(who, connection_id)
    return Response(status_code=204)
