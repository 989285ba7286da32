"""Routes: Leoflow's user administration (``/api/leoflow/users``) and API tokens.

Admin only (MANAGE_USERS). An administrator of the ``default`` tenant manages every
tenant's users; any other administrator only those of its own tenant (see
``leoflow.engine.auth.users_admin``). An API token is shown once, in the answer that
creates it; afterwards only its id, description and dates are listed.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from leoflow.engine.api.routes.auth import Paging, auth_service, paging
from leoflow.engine.api.security import require
from leoflow.engine.auth.permissions import MANAGE_USERS, Principal
from leoflow.engine.auth.service import AuthService
from leoflow.engine.services.rows import ApiTokenRow, UserRow

router = APIRouter(prefix="/api/leoflow/users", tags=["Leoflow: users"])

ORDER_FIELDS = {"username": "username", "role": "role", "tenant": "tenant",
                "created_at": "created_at"}


class UserBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=250)
    password: str = Field(min_length=1, max_length=1024)
    role: str
    tenant: str | None = Field(default=None, max_length=100,
                               description="default: the administrator's own tenant")


class UserPatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    tenant: str | None = Field(default=None, max_length=100)


class UserResponse(BaseModel):
    username: str
    role: str
    tenant: str
    created_at: datetime
    updated_at: datetime


class UserCollectionResponse(BaseModel):
    users: list[UserResponse]
    total_entries: int


class ApiTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expires_in_days: float | None = Field(default=None, gt=0, le=3650,
                                          description="default: never expires")
    description: str | None = Field(default=None, max_length=1000)


class ApiTokenResponse(BaseModel):
    token_id: str
    username: str
    description: str | None
    created_at: datetime
    expires_at: datetime | None


class ApiTokenCreated(ApiTokenResponse):
    token: str = Field(description="the bearer token; shown only in this answer")


class ApiTokenCollectionResponse(BaseModel):
    tokens: list[ApiTokenResponse]
    total_entries: int


def _user(row: UserRow) -> UserResponse:
    return UserResponse(username=row.username, role=row.role, tenant=row.tenant,
                        created_at=row.created_at, updated_at=row.updated_at)


def _token(row: ApiTokenRow) -> ApiTokenResponse:
    return ApiTokenResponse(token_id=row.id, username=row.username,
                            description=row.description, created_at=row.created_at,
                            expires_at=row.expires_at)


@router.get("", response_model=UserCollectionResponse)
async def list_users(page: Paging = Depends(paging),
                     who: Principal = Depends(require(MANAGE_USERS)),
                     auth: AuthService = Depends(auth_service)) -> UserCollectionResponse:
    result = await auth.users.list_users(who, limit=page.limit, offset=page.offset,
                                         order=page.order(ORDER_FIELDS, "username"))
    return UserCollectionResponse(users=[_user(u) for u in result.items],
                                  total_entries=result.total)


@router.post("", status_code=201, response_model=UserResponse)
async def create_user(body: UserBody, who: Principal = Depends(require(MANAGE_USERS)),
                      auth: AuthService = Depends(auth_service)) -> UserResponse:
    row = await auth.users.create_user(who, body.username, body.password, body.role,
                                       tenant=body.tenant)
    return _user(row)


@router.get("/{username}", response_model=UserResponse)
async def get_user(username: str, who: Principal = Depends(require(MANAGE_USERS)),
                   auth: AuthService = Depends(auth_service)) -> UserResponse:
    return _user(await auth.users.get_user(who, username))


@router.patch("/{username}", response_model=UserResponse)
async def patch_user(username: str, body: UserPatchBody,
                     who: Principal = Depends(require(MANAGE_USERS)),
                     auth: AuthService = Depends(auth_service)) -> UserResponse:
    """Changes the role, password or tenant given in the body."""
    row = await auth.users.update_user(who, username, role=body.role, password=body.password,
                                       tenant=body.tenant)
    return _user(row)


@router.delete("/{username}", status_code=204)
async def delete_user(username: str, who: Principal = Depends(require(MANAGE_USERS)),
                      auth: AuthService = Depends(auth_service)) -> Response:
    await auth.users.delete_user(who, username)
    return Response(status_code=204)


@router.get("/{username}/tokens", response_model=ApiTokenCollectionResponse)
async def list_api_tokens(username: str, who: Principal = Depends(require(MANAGE_USERS)),
                          auth: AuthService = Depends(auth_service)
                          ) -> ApiTokenCollectionResponse:
    rows = await auth.users.list_api_tokens(who, username)
    return ApiTokenCollectionResponse(tokens=[_token(r) for r in rows],
                                      total_entries=len(rows))


@router.post("/{username}/tokens", status_code=201, response_model=ApiTokenCreated)
async def create_api_token(username: str, body: ApiTokenBody | None = None,
                           who: Principal = Depends(require(MANAGE_USERS)),
                           auth: AuthService = Depends(auth_service)) -> ApiTokenCreated:
    """A new API token acting as ``username`` (with its role and tenant), for CI."""
    body = body or ApiTokenBody()
    token, row = await auth.users.create_api_token(
        who, username, expires_in_days=body.expires_in_days, description=body.description)
    return ApiTokenCreated(token=token, **_token(row).model_dump())


@router.delete("/{username}/tokens/{token_id}", status_code=204)
async def delete_api_token(username: str, token_id: str,
                           who: Principal = Depends(require(MANAGE_USERS)),
                           auth: AuthService = Depends(auth_service)) -> Response:
    await auth.users.delete_api_token(who, username, token_id)
    return Response(status_code=204)
