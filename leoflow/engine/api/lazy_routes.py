"""Route modules imported when a request first needs them (``create_api(lazy=True)``).

Importing the API's 37 route modules builds their pydantic models and FastAPI's dependants
for about 180 routes: a third of a second of CPU that Lite's first page (served by the IDE)
and its health check never use. In a lazy app each module is first a ``LazyRoutes``
placeholder, at the very place its router would be included. A request whose path starts
with one of the module's ``ROUTE_PREFIXES`` makes the placeholder import the module and put
its router right after itself; the app's router, which is still walking its routes for
that request, matches the new routes next. So any path is matched against the same routes,
in the same order, as in an eager app: a route can only match a path that starts with the
literal part of its own path (up to its first ``{parameter}``), and every such part starts
with a prefix declared for its module (tests/unit/test_lazy_routes.py checks the table
against the modules). ``load_all`` imports the rest (the OpenAPI schema, a warm-up).
"""

from __future__ import annotations

import importlib
from typing import Any

from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

ROUTES_PACKAGE = "leoflow.engine.api.routes"

# module (in ROUTES_PACKAGE) -> how the paths of its routes start
ROUTE_PREFIXES: dict[str, tuple[str, ...]] = {
    "auth": ("/api/v2/auth/", "/auth/"),
    "monitor": ("/api/v2/monitor/health", "/api/v2/version"),
    "dags": ("/api/v2/dags",),
    "dag_runs": ("/api/v2/dags/",),
    "task_instances": ("/api/v2/dags/",),
    "task_instance_changes": ("/api/v2/dags/",),
    "xcom": ("/api/v2/dags/",),
    "logs": ("/api/v2/dags/",),
    "sources": ("/api/v2/dagSources/",),
    "import_errors": ("/api/v2/importErrors",),
    "variables": ("/api/v2/variables",),
    "connections": ("/api/v2/connections",),
    "pools": ("/api/v2/pools",),
    "event_logs": ("/api/v2/eventLogs",),
    "users": ("/api/leoflow/users",),
    "leoflow": ("/api/leoflow/connection-types", "/api/leoflow/dags"),
    "ready": ("/api/leoflow/ready",),
    "metrics": ("/metrics",),
    "hitl": ("/api/v2/dags/",),
    "assets": ("/api/v2/assets", "/api/v2/dags/"),
    "asset_state": ("/api/v2/assets/",),
    "ui_auth": ("/ui/",),
    "ui_dags": ("/ui/",),
    "ui_grid": ("/ui/",),
    "ui_runs": ("/ui/",),
    "ui_misc": ("/ui/",),
    "dag_catalog": ("/api/v2/dagStats", "/api/v2/dagTags", "/api/v2/dagWarnings",
                    "/api/v2/dags/"),
    "platform": ("/api/v2/config", "/api/v2/dags/", "/api/v2/jobs", "/api/v2/plugins",
                 "/api/v2/providers"),
    "xcom_writes": ("/api/v2/dags/",),
    "bulk": ("/api/v2/connections", "/api/v2/pools", "/api/v2/variables"),
    "run_batches": ("/api/v2/dags/",),
    "task_state": ("/api/v2/dags/",),
    "run_bulk": ("/api/v2/dags/",),
    "unsupported": ("/api/v2/connections/defaults", "/api/v2/dags/", "/api/v2/parseDagFile/"),
    "backfills": ("/api/v2/backfills",),
    "favorites": ("/api/v2/dags/",),
    "ha": ("/api/leoflow/ha",),
}


class LazyRoutes(BaseRoute):
    """The place of one route module's router until a request needs it; it never matches
    itself (its routes, once imported, follow it)."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.module = f"{ROUTES_PACKAGE}.{name}"
        self.path_prefixes = ROUTE_PREFIXES[name]  # read by leoflow.ide.pages_first too
        self.loaded = False

    def load(self) -> None:
        """Import the module and include its router right after this placeholder."""
        if self.loaded:
            return
        module = importlib.import_module(self.module)
        self.loaded = True
        router = self.app.router
        routes: list[BaseRoute] = router.routes
        lifespan = router.lifespan_context  # the app's (Lite wraps it): kept as it is
        before = len(routes)
        self.app.include_router(module.router)
        added = routes[before:]
        del routes[before:]
        at = next(i for i, route in enumerate(routes) if route is self) + 1
        routes[at:at] = added
        router.lifespan_context = lifespan

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not self.loaded and scope["type"] in ("http", "websocket"):
            from starlette._utils import get_route_path

            if get_route_path(scope).startswith(self.path_prefixes):
                self.load()  # matched next, in this same walk over the routes
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        self.load()  # the walk for a route's URL goes on with the routes added after this
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a LazyRoutes placeholder never matches")  # pragma: no cover

    def __repr__(self) -> str:
        return f"LazyRoutes({self.module!r}, loaded={self.loaded})"


def include_lazily(app: Any, name: str) -> LazyRoutes:
    """Put the placeholder of route module ``name`` where its router would be included."""
    placeholder = LazyRoutes(app, name)
    app.router.routes.append(placeholder)
    return placeholder


def waiting(app: Any) -> list[LazyRoutes]:
    """The placeholders whose module is not imported yet."""
    return [route for route in app.router.routes
            if isinstance(route, LazyRoutes) and not route.loaded]


def load_all(app: Any) -> None:
    """Include every router still waiting (on the event loop, between requests)."""
    for route in waiting(app):
        route.load()


async def warm_up(app: Any) -> None:
    """Include the waiting routers one at a time, letting the event loop serve requests
    between two (each import takes about 10 ms): the API's first answers stay quick."""
    import asyncio

    for route in waiting(app):
        route.load()
        await asyncio.sleep(0)
