"""Who is calling, and may they? A FastAPI dependency per permission.

The token comes from ``Authorization: Bearer ...`` or, as Airflow's UI sends it, the
``_token`` cookie (the header wins). Missing → 401 "Not authenticated"; bad → 403 "Invalid
JWT token"; expired → 401 "Token Expired" (Airflow 3's answers, see AIRFLOW-COMPAT.md).
A write authenticated by the cookie must come from a page of this server, with a JSON body
(``leoflow.engine.auth.csrf``): 403 or 415 otherwise, before the token is even looked at.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import Forbidden, NotAuthenticated
from leoflow.engine.auth.csrf import check_cookie_write
from leoflow.engine.auth.permissions import EDIT_RUNS, Principal, role_allows


def api_context(request: Request) -> ApiContext:
    return request.app.state.context


TOKEN_COOKIE = "_token"


def header_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def bearer_token(request: Request) -> str | None:
    return header_token(request) or request.cookies.get(TOKEN_COOKIE) or None


def declared_body_types(request: Request) -> tuple[str, ...]:
    """The non-JSON body types the matched route declares in its OpenAPI (e.g. an upload's
    ``multipart/form-data``)."""
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    content = (extra.get("requestBody") or {}).get("content") or {}
    return tuple(kind for kind in content if kind.startswith("multipart/"))


def check_cookie_request(request: Request, ctx: ApiContext | None) -> None:
    """The CSRF defence of a request authenticated by the ``_token`` cookie."""
    config = getattr(getattr(ctx, "auth", None), "config", None)
    has_body = (request.headers.get("content-length", "0").strip() not in ("", "0")
                or "transfer-encoding" in request.headers)
    check_cookie_write(
        request.method, origin=request.headers.get("origin"),
        referer=request.headers.get("referer"), host=request.headers.get("host"),
        content_type=request.headers.get("content-type"), has_body=has_body,
        trusted_origins=getattr(config, "trusted_origins", ()),
        body_types=declared_body_types(request))


async def current_principal(request: Request,
                            ctx: ApiContext = Depends(api_context)) -> Principal:
    token = header_token(request)
    if token is None:
        token = request.cookies.get(TOKEN_COOKIE) or None
        if token is not None:
            check_cookie_request(request, ctx)
    if token is None:
        raise NotAuthenticated()
    principal = await ctx.auth.principal(token)
    request.state.principal = principal
    return principal


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """``principal: Principal = Depends(require(READ))`` on a route."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not role_allows(principal.role, permission):
            raise Forbidden(f"role {principal.role} may not {permission.replace('_', ' ')}")
        return principal

    return check


def run_types_for(principal: Principal) -> list[str] | None:
    """A DAG's ``allowed_run_types`` as ``principal`` sees it: None (every type, Airflow's
    default) when its role may trigger runs, else none at all, so that Airflow's UI shows
    its Trigger button disabled to a Viewer instead of a form the API would refuse."""
    return None if role_allows(principal.role, EDIT_RUNS) else []
