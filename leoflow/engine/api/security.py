"""Who is calling, and may they? A FastAPI dependency per permission.

The token comes from ``Authorization: Bearer ...`` or, as Airflow's UI sends it, the
``_token`` cookie (the header wins). Missing → 401 "Not authenticated"; bad → 403 "Invalid
JWT token"; expired → 401 "Token Expired" (Airflow 3's answers, see AIRFLOW-COMPAT.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import Forbidden, NotAuthenticated
from leoflow.engine.auth.permissions import Principal, role_allows


def api_context(request: Request) -> ApiContext:
    return request.app.state.context


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get("_token") or None


async def current_principal(request: Request,
                            ctx: ApiContext = Depends(api_context)) -> Principal:
    token = bearer_token(request)
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
