"""Requests for the IDE go straight to NiceGUI instead of walking past every API route.

NiceGUI is mounted at ``/`` after the API, so a request for an IDE page is matched against
every API route first. FastAPI (0.165) builds an included router's routes (their
dependants, pydantic adapters) the first time a request is matched against it, which made
the first IDE page after Lite's start pay about 0.2 s of CPU for API routes it never uses.
``PagesFirst`` sits first in the app's routes: a path whose first segment no API route
starts with is handed to the NiceGUI mount at once; every other path (``/api``, ``/auth``,
``/airflow``...) goes through the routes in order, as before. The segments are read from
the routes themselves (paths and include prefixes, without building anything); if any
route's first segment is a parameter (a catch-all), the shortcut turns itself off. A route
module Lite has not imported yet (``leoflow.engine.api.lazy_routes``) counts with the path
prefixes it declares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Receive, Scope, Send


def first_segments(routes: Iterable[Any], prefix: str = "") -> set[str] | None:
    """The first path segments ``routes`` serve, or None when one is a parameter."""
    found: set[str] = set()
    for route in routes:
        include = getattr(route, "include_context", None)
        if include is not None:  # FastAPI's included router: its prefix + its routes
            inner = first_segments(route.original_router.routes,
                                   prefix + (include.prefix or ""))
            if inner is None:
                return None
            found |= inner
            continue
        lazy = getattr(route, "path_prefixes", None)
        if lazy is not None:  # a route module not imported yet (engine/api/lazy_routes.py)
            for start in lazy:
                segment = (prefix + start).lstrip("/").split("/", 1)[0]
                if not segment or "{" in segment:
                    return None
                found.add(segment)
            continue
        path = prefix + str(getattr(route, "path", "") or "")
        segment = path.lstrip("/").split("/", 1)[0]
        if not segment or "{" in segment:
            return None
        found.add(segment)
    return found


class PagesFirst(BaseRoute):
    """First of the app's routes: hands IDE requests to the NiceGUI mount directly."""

    def __init__(self, routes: list[BaseRoute], pages: Mount) -> None:
        self._routes = routes  # the app's own list: the other routes are read lazily
        self._pages = pages
        self._segments: set[str] | None = None
        self._counted = -1

    def _api_segments(self) -> set[str] | None:
        if self._counted != len(self._routes):
            others = [r for r in self._routes if r is not self and r is not self._pages]
            self._segments = first_segments(others)
            self._counted = len(self._routes)
        return self._segments

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        segments = self._api_segments()
        if segments is None:
            return Match.NONE, {}
        first = str(scope.get("path") or "/").lstrip("/").split("/", 1)[0]
        if first in segments:
            return Match.NONE, {}
        return self._pages.matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._pages.handle(scope, receive, send)


def put_pages_first(app: Any, pages_app: Any) -> bool:
    """Insert ``PagesFirst`` for the mount of ``pages_app`` (NiceGUI's); False if absent."""
    routes: list[BaseRoute] = app.router.routes
    mount = next((r for r in routes if isinstance(r, Mount) and r.app is pages_app
                  and r.path in ("", "/")), None)
    if mount is None:
        return False
    routes.insert(0, PagesFirst(routes, mount))
    return True
