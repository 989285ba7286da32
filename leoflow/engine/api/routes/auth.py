"""Routes: logging in and out, the way Airflow 3's simple auth manager answers.

``POST /auth/token`` takes ``{username, password}`` as JSON or as a form and answers **201**
``{"access_token": ...}``; wrong credentials → 401 ``{"detail": "Invalid credentials"}``,
a missing field → 422, too many failures → 429 with ``Retry-After``. ``POST
/auth/token/cli`` does the same with a longer expiry. ``GET /api/v2/auth/logout`` revokes
the presented token(s) and redirects to the login page, a minimal one at ``/auth/login``.

When the login comes from a page of this server (its ``Origin``), the answer also sets the
``_token`` cookie, ``HttpOnly; SameSite=Strict`` (``Secure`` over https): the browser sends
it, no script reads it. A login from another origin gets the token in the body only.

Also here, for the other route modules of the auth part: ``auth_service`` (the
``AuthService`` behind the context) and ``Paging`` (Airflow's ``limit``/``offset``/
``order_by`` query parameters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from leoflow.engine.api.airflow_ui import login_override
from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError
from leoflow.engine.api.security import TOKEN_COOKIE, api_context, bearer_token
from leoflow.engine.auth.csrf import same_origin
from leoflow.engine.auth.redirects import safe_next
from leoflow.engine.auth.service import AuthService

router = APIRouter()

MAX_PAGE_LIMIT = 100  # Airflow's [api] maximum_page_limit: larger limits are capped
DEFAULT_PAGE_LIMIT = 50
MAX_INT32 = 2**31 - 1
MAX_OFFSET = 2**62  # beyond it nothing is selected anyway; keeps it inside a SQL BIGINT


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    username: str
    password: str


class LoginResponse(BaseModel):
    access_token: str


def auth_service(ctx: ApiContext = Depends(api_context)) -> AuthService:
    """The ``AuthService`` (users, API tokens, secrets) behind ``ctx.auth``."""
    if not isinstance(ctx.auth, AuthService):
        raise ApiError(501, "this server's authenticator does not manage users or secrets")
    return ctx.auth


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int
    order_by: str | None

    def order(self, fields: dict[str, str], default: str) -> str:
        """The repository's order for Airflow's ``order_by`` (``-name`` descends);
        ``fields`` maps API names to column names. Unknown names → 400, as Airflow."""
        if not self.order_by:
            return default
        descending = self.order_by.startswith("-")
        name = self.order_by.lstrip("-")
        if name not in fields:
            raise ApiError(400, f"Ordering with '{name}' is disallowed or the attribute does "
                                f"not exist on the model; choose one of {', '.join(fields)}")
        return ("-" if descending else "") + fields[name]


def paging(limit: int = Query(DEFAULT_PAGE_LIMIT, ge=0),
           offset: int = Query(0, ge=0),
           order_by: list[str] | None = Query(None)) -> Paging:
    """Paging as Airflow: ``limit`` 50 by default and silently capped at 100; ``order_by``
    repeated (client 3.3) or comma-separated (3.0): the first one is used."""
    first = next((o for part in order_by or () for o in part.split(",") if o.strip()), None)
    return Paging(min(limit, MAX_PAGE_LIMIT), min(offset, MAX_OFFSET),
                  first.strip() if first else None)


def update_mask(mask: list[str] | None, allowed: set[str]) -> set[str] | None:
    """Airflow's ``update_mask`` query (repeated or comma-separated); ``None`` when absent."""
    if not mask:
        return None
    names = {n.strip() for part in mask for n in part.split(",") if n.strip()}
    unknown = sorted(names - allowed)
    if unknown:
        raise ApiError(400, f"Invalid field(s) in update_mask: {', '.join(unknown)}; "
                            f"choose among {', '.join(sorted(allowed))}")
    return names


async def _login_body(request: Request) -> LoginBody:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Any
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                           "msg": "JSON decode error", "input": {}}]) from None
    try:
        return LoginBody.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


_LOGIN_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginBody.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginBody.model_json_schema()},
        },
    }
}


async def _token(request: Request, ctx: ApiContext, *, long_lived: bool) -> JSONResponse:
    body = await _login_body(request)
    client = request.client.host if request.client else "unknown"
    token = await ctx.auth.login(body.username, body.password, client=client,
                                 long_lived=long_lived)
    response = JSONResponse({"access_token": token}, status_code=201)
    config = getattr(ctx.auth, "config", None)
    if same_origin(request.headers.get("origin"), request.headers.get("host"),
                   trusted_origins=getattr(config, "trusted_origins", ())):
        seconds = getattr(config, "jwt_cli_expiration" if long_lived else "jwt_expiration",
                          None)
        response.set_cookie(TOKEN_COOKIE, token, max_age=seconds, path="/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/auth/token", status_code=201, response_model=LoginResponse, tags=["Login"],
             summary="Create an access token", openapi_extra=_LOGIN_OPENAPI,
             responses={401: {"description": "Invalid credentials"},
                        429: {"description": "Too many failed logins"}})
async def create_token(request: Request,
                       ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    """Airflow 3's ``POST /auth/token``: a JWT for a username and password."""
    return await _token(request, ctx, long_lived=False)


@router.post("/auth/token/cli", status_code=201, response_model=LoginResponse, tags=["Login"],
             summary="Create a longer-lived access token for a CLI",
             openapi_extra=_LOGIN_OPENAPI,
             responses={401: {"description": "Invalid credentials"},
                        429: {"description": "Too many failed logins"}})
async def create_cli_token(request: Request,
                           ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return await _token(request, ctx, long_lived=True)


@router.get("/api/v2/auth/login", tags=["Login"], status_code=307,
            summary="Redirect to the login page")
async def login_redirect(next_: str | None = Query(None, alias="next")) -> RedirectResponse:
    return RedirectResponse(f"/auth/login?next={quote(safe_next(next_), safe='')}",
                            status_code=307)


@router.get("/api/v2/auth/logout", tags=["Login"], status_code=307,
            summary="Revoke the presented tokens and redirect to the login page")
async def logout(request: Request, ctx: ApiContext = Depends(api_context)) -> RedirectResponse:
    """Revokes the bearer token and the ``_token`` cookie (both when both are sent): a
    revoked token is refused with 403 on every replica until it would have expired."""
    header = bearer_token(request)
    cookie = request.cookies.get(TOKEN_COOKIE)
    logout_tokens = getattr(ctx.auth, "logout", None)
    if logout_tokens is not None:
        await logout_tokens(header, cookie)
    response = RedirectResponse("/auth/login", status_code=307)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Leoflow: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;display:flex;justify-content:center;
margin-top:10vh}form{display:flex;flex-direction:column;gap:.6em;width:18em}
#error{color:#b00020;min-height:1.2em}</style></head>
<body><form id="login"><h1>Leoflow</h1>
<input name="username" placeholder="username" autocomplete="username" required>
<input name="password" type="password" placeholder="password"
 autocomplete="current-password" required>
<button type="submit">Sign in</button><div id="error"></div></form>
<script>
const form = document.getElementById("login");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {username: form.username.value, password: form.password.value};
  const answer = await fetch("/auth/token", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (answer.status !== 201) {
    document.getElementById("error").textContent = (await answer.json()).detail;
    return;
  }
  // The answer set the _token cookie (HttpOnly): nothing to store here.
  const next = new URL(NEXT, location.origin);  // checked by the server, checked again
  location.assign(next.origin === location.origin ? next.href : "/");
});
</script></body></html>
"""


@router.get("/auth/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request,
                     next_: str | None = Query(None, alias="next")) -> HTMLResponse:
    """A minimal sign-in page: posts to ``/auth/token``, whose answer sets the ``_token``
    cookie, then goes to ``next`` if it is a path on this server (else ``/``). Where the
    Airflow UI is served and installed, Airflow's own login page instead (same protocol)."""
    airflow_login = login_override(request.app)
    if airflow_login is not None:
        return airflow_login
    target = json.dumps(safe_next(next_)).replace("<", "\\u003c")
    return HTMLResponse(_LOGIN_PAGE.replace("NEXT, location.origin", f"{target}, "
                                            "location.origin"))
