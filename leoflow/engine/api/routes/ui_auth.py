"""Airflow UI: its settings and session (``/ui/config``, ``/ui/auth/me``,
``/ui/auth/menus``, ``/ui/auth/token``, ``/ui/teams``).

The menus follow the caller's role (``auth/permissions``): a Viewer gets the reading pages
only, the resource pages (Variables, Connections, Pools) come with Op, Config with Admin;
the UI greys out or hides the entries that are not listed.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError
from leoflow.engine.api.models.ui_auth import (
    AuthenticatedMeResponse,
    ConfigResponse,
    GenerateTokenBody,
    GenerateTokenResponse,
    MenuItem,
    MenuItemCollectionResponse,
    TeamCollectionResponse,
    TeamResponse,
)
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import (
    MANAGE_RESOURCES,
    MANAGE_USERS,
    READ,
    Principal,
    role_allows,
)

router = APIRouter(prefix="/ui", tags=["Airflow UI"])

READER_MENUS: tuple[MenuItem, ...] = ("Dags", "Assets", "Audit Log", "XComs",
                                      "Required Actions", "Docs", "Plugins", "Providers")
RESOURCE_MENUS: tuple[MenuItem, ...] = ("Variables", "Connections", "Pools")
ADMIN_MENUS: tuple[MenuItem, ...] = ("Config",)


@router.get("/config", response_model=ConfigResponse)
async def get_config(ctx: ApiContext = Depends(api_context),
                     principal: Principal = Depends(require(READ))) -> ConfigResponse:
    """The UI's settings; Leoflow's fixed answers for what Airflow reads from [api]."""
    return ConfigResponse(
        fallback_page_limit=50, auto_refresh_interval=3, hide_paused_dags_by_default=False,
        instance_name="Leoflow", enable_swagger_ui=True, require_confirmation_dag_change=False,
        default_wrap=False, test_connection="Disabled", dashboard_alert=[],
        show_external_log_redirect=False, external_log_name=None, theme=None,
        multi_team=False, rerun_with_latest_version=None)


@router.get("/auth/me", response_model=AuthenticatedMeResponse)
async def get_me(principal: Principal = Depends(require(READ))) -> AuthenticatedMeResponse:
    return AuthenticatedMeResponse(id=principal.username, username=principal.username)


def menus_for(role: str) -> list[MenuItem]:
    """The pages a role may open, in the UI's order."""
    items = list(READER_MENUS)
    if role_allows(role, MANAGE_RESOURCES):
        items += RESOURCE_MENUS
    if role_allows(role, MANAGE_USERS):
        items += ADMIN_MENUS
    return items


@router.get("/auth/menus", response_model=MenuItemCollectionResponse)
async def get_menus(principal: Principal = Depends(require(READ))
                    ) -> MenuItemCollectionResponse:
    return MenuItemCollectionResponse(authorized_menu_items=menus_for(principal.role),
                                      extra_menu_items=[])


@router.post("/auth/token", response_model=GenerateTokenResponse)
async def generate_token(body: GenerateTokenBody, ctx: ApiContext = Depends(api_context),
                         principal: Principal = Depends(require(READ))
                         ) -> GenerateTokenResponse:
    """A new token for the signed-in user (the UI's "Generate token" dialog)."""
    issue = getattr(ctx.auth, "issue", None)
    config = getattr(ctx.auth, "config", None)
    if issue is None or config is None:
        raise ApiError(501, "this server's authenticator does not issue tokens")
    long_lived = body.token_type == "cli"
    token = await issue(principal, long_lived=long_lived)
    seconds = config.jwt_cli_expiration if long_lived else config.jwt_expiration
    return GenerateTokenResponse(access_token=token, token_type=body.token_type,
                                 expires_in_seconds=int(seconds))


@router.get("/teams", response_model=TeamCollectionResponse)
async def get_teams(principal: Principal = Depends(require(READ))) -> TeamCollectionResponse:
    """Leoflow's tenants play Airflow's teams: a caller sees its own only."""
    return TeamCollectionResponse(teams=[TeamResponse(name=principal.tenant)], total_entries=1)
