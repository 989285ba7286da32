"""Shapes of the UI's own settings and session routes (``/ui/config``, ``/ui/auth/*``,
``/ui/teams``), as Airflow 3.3's private UI API names them."""

from __future__ import annotations

from typing import Any, Literal

from leoflow.engine.api.models.common import ApiModel, BodyModel

MenuItem = Literal["Required Actions", "Assets", "Audit Log", "Config", "Connections", "Dags",
                   "Deadlines", "Docs", "Jobs", "Plugins", "Pools", "Providers", "Variables",
                   "XComs"]


class UIAlert(ApiModel):
    text: str
    category: Literal["info", "warning", "error"]


class ConfigResponse(ApiModel):
    fallback_page_limit: int
    auto_refresh_interval: int
    hide_paused_dags_by_default: bool
    instance_name: str
    enable_swagger_ui: bool
    require_confirmation_dag_change: bool
    default_wrap: bool
    test_connection: str
    dashboard_alert: list[UIAlert]
    show_external_log_redirect: bool
    external_log_name: str | None = None
    theme: dict[str, Any] | None = None
    multi_team: bool
    rerun_with_latest_version: bool | None = None


class AuthenticatedMeResponse(ApiModel):
    id: str
    username: str


class ExtraMenuItem(ApiModel):
    text: str
    href: str


class MenuItemCollectionResponse(ApiModel):
    authorized_menu_items: list[MenuItem]
    extra_menu_items: list[ExtraMenuItem]


class GenerateTokenBody(BodyModel):
    token_type: Literal["api", "cli"] = "api"


class GenerateTokenResponse(ApiModel):
    access_token: str
    token_type: Literal["api", "cli"]
    expires_in_seconds: int


class TeamResponse(ApiModel):
    name: str


class TeamCollectionResponse(ApiModel):
    teams: list[TeamResponse]
    total_entries: int
