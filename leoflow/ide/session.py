"""Who is logged in to the IDE.

The login page trades a username and password for a token (``AuthService.login``) and
keeps it, with the username and role, in NiceGUI's ``app.storage.user`` (server-side,
keyed by a signed browser cookie). Every other page asks ``page_access`` first: the
token is checked again (``AuthService.principal``) on each page load, so a token that
expired or was revoked sends the user back to the login page; the ``Access`` it returns
checks the token, the current role and the tenant again before each of the page's actions
(``leoflow.ide.access``).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse

from leoflow.engine.auth.permissions import Principal
from leoflow.engine.auth.redirects import safe_next as engine_safe_next
from leoflow.errors import LeoflowError
from leoflow.ide.access import Access
from leoflow.ide.services import IdeServices

log = logging.getLogger("leoflow.ide")

TOKEN = "token"
USERNAME = "username"
ROLE = "role"


def _storage() -> Any:
    from nicegui import app

    return app.storage.user


async def principal_or_none(services: IdeServices) -> Principal | None:
    """The logged-in principal, or None (no token, or one the auth service refuses)."""
    storage = _storage()
    token = storage.get(TOKEN)
    if not token or services.auth is None:
        return None
    try:
        return await services.auth.principal(token)
    except LeoflowError:
        storage.pop(TOKEN, None)
        return None


async def page_access(services: IdeServices) -> Access | None:
    """The page's ``Access`` (its user's token, checked now), or None: log in first.

    Every page calls it when it is built and keeps it; every action of the page then asks
    it (``check``, ``dag``, ``workspace``) instead of trusting the role seen here."""
    principal = await principal_or_none(services)
    token = _storage().get(TOKEN)
    if principal is None or not token:
        return None
    return Access(services, token, principal)


def login_redirect(request: Request) -> RedirectResponse:
    """303 to /login, remembering where the user wanted to go."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def safe_next(target: str | None) -> str:
    """Only a path on this server (never ``//evil.example``, ``/\\evil.example`` or
    ``https://…``): the engine's rule, shared with the API's login page."""
    return engine_safe_next(target)


async def log_in(services: IdeServices, username: str, password: str, *,
                 client: str = "ide") -> Principal:
    """Check the credentials and remember the token; raises the auth service's error.
    ``client`` is the browser's address: failed logins are counted per address."""
    if services.auth is None:
        raise LeoflowError("the IDE is still starting; try again in a moment")
    token = await services.auth.login(username, password, client=client)
    principal = await services.auth.principal(token)
    storage = _storage()
    storage[TOKEN] = token
    storage[USERNAME] = principal.username
    storage[ROLE] = principal.role
    return principal


async def log_out(services: IdeServices) -> None:
    """Forget the session and revoke its token (``AuthService.logout``, when it has one)."""
    storage = _storage()
    token = storage.get(TOKEN)
    for key in (TOKEN, USERNAME, ROLE):
        storage.pop(key, None)
    logout = getattr(services.auth, "logout", None)
    if token and callable(logout):
        try:
            await logout(token)
        except LeoflowError:
            log.warning("the IDE session's token could not be revoked", exc_info=True)
