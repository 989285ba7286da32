"""Build the FastAPI application from an ``ApiContext`` (no globals, nothing at import)."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI

from leoflow.engine.api.body_limit import DEFAULT_MAX_REQUEST_BYTES, BodyLimitMiddleware
from leoflow.engine.api.client_skew import ClientSkewMiddleware
from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import install_error_handlers
from leoflow.engine.api.lazy_routes import ROUTES_PACKAGE, include_lazily, load_all

# Each module holds one ``router``; the order is the order of the OpenAPI reference.
ROUTE_MODULES = (
    "auth", "monitor", "dags", "dag_runs", "task_instances", "task_instance_changes", "xcom",
    "logs", "sources", "import_errors", "variables", "connections", "pools", "event_logs",
    "users", "leoflow", "ready", "metrics", "hitl", "assets", "asset_state",
    "ui_auth", "ui_dags", "ui_grid", "ui_runs", "ui_misc",
    "dag_catalog", "platform", "xcom_writes", "bulk", "run_batches", "task_state",
    "run_bulk", "unsupported", "backfills", "favorites",
)


def create_api(context: ApiContext | None = None, *, version: str = "0",
               lifespan: Any = None,
               max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
               lazy: bool = False) -> FastAPI:
    """The API app. ``context`` may be set later (``app.state.context``) by a ``lifespan``
    that starts the control plane, as ``leoflow-server`` does. A request body above
    ``max_request_bytes`` is refused with 413 while it streams in. ``lazy`` imports each
    route module when a request first needs it (``lazy_routes.py``; Lite's start)."""
    app = FastAPI(
        title="Leoflow API",
        version=context.version if context else version,
        lifespan=lifespan,
        description="Airflow 3 compatible /api/v2, authentication, and Leoflow's own routes.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.context = context
    app.add_middleware(ClientSkewMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_request_bytes)
    install_error_handlers(app)
    if lazy:
        for name in ROUTE_MODULES:
            include_lazily(app, name)
        schema = app.openapi

        def openapi() -> dict[str, Any]:
            load_all(app)  # the reference describes every route
            return schema()

        app.openapi = openapi  # type: ignore[method-assign]
        return app
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"{ROUTES_PACKAGE}.{name}")
        app.include_router(module.router)
    return app


def include_module(app: FastAPI, name: str, *, lazy: bool = False) -> None:
    """Include the router of one more route module of ``ROUTES_PACKAGE`` (``ha``)."""
    if lazy:
        include_lazily(app, name)
    else:
        app.include_router(importlib.import_module(f"{ROUTES_PACKAGE}.{name}").router)
