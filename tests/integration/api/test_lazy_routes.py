"""The API's route modules imported at the first request that needs them
(leoflow/engine/api/lazy_routes.py, Lite's start).

Real FastAPI apps: Leoflow's own (``build_app``) built eagerly and lazily side by side, and
every route of every module requested through both.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leoflow.engine.api.app import ROUTE_MODULES
from leoflow.engine.api.lazy_routes import (
    ROUTE_PREFIXES,
    ROUTES_PACKAGE,
    LazyRoutes,
    load_all,
    waiting,
)
from leoflow.ide.pages_first import put_pages_first


def module_routes(name: str) -> list[Any]:
    return list(importlib.import_module(f"{ROUTES_PACKAGE}.{name}").router.routes)


def test_the_declared_prefixes_cover_every_route_of_their_module() -> None:
    assert set(ROUTE_PREFIXES) == {*ROUTE_MODULES, "ha"}
    for name, prefixes in ROUTE_PREFIXES.items():
        router = importlib.import_module(f"{ROUTES_PACKAGE}.{name}").router
        # a lazily included router's startup hooks would never run
        assert not router.on_startup and not router.on_shutdown, name
        for route in router.routes:
            literal = route.path.split("{", 1)[0]  # what a matching path must start with
            assert literal.startswith(prefixes), (name, route.path, prefixes)


def build(tmp_path: Path, *, lazy: bool) -> Any:
    from leoflow.app.server import build_app
    from leoflow.app.settings import Settings

    settings = Settings.load(env={}, overrides={"home": str(tmp_path / "home")})
    return build_app(settings, lazy_routes=lazy)


def sample_requests() -> list[tuple[str, str]]:
    """Every route of every module with its parameters filled, plus near misses."""
    requests: list[tuple[str, str]] = []
    for name in ROUTE_PREFIXES:
        for route in module_routes(name):
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            for method in sorted(route.methods or {"GET"}):
                requests.append((method, path))
            requests.append(("PATCH", path))  # mostly 405: a partial match
            requests.append(("GET", path + "/"))  # the trailing-slash redirect
    requests += [("GET", "/api/v2"), ("GET", "/api/v2/nothing"), ("GET", "/ui"),
                 ("GET", "/auth"), ("GET", "/nothing"), ("GET", "/metrics/"),
                 ("GET", "/api/v2/dags/x/nothing/y")]
    return requests


def test_every_request_gets_the_answer_an_eager_app_gives(tmp_path: Path) -> None:
    eager = TestClient(build(tmp_path, lazy=False), raise_server_exceptions=False,
                       follow_redirects=False)
    app = build(tmp_path, lazy=True)  # the same home: the same answers
    assert len(waiting(app)) == len(ROUTE_PREFIXES)
    lazy = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    requests = sample_requests()
    assert len(requests) > 500
    for method, path in requests:
        want, got = eager.request(method, path), lazy.request(method, path)
        if path.startswith("/metrics") and want.status_code == 200:
            assert got.status_code == 200 and "leoflow_dag_runs" in got.text  # live figures
            continue
        assert (got.status_code, got.text, got.headers.get("location")) == \
            (want.status_code, want.text, want.headers.get("location")), (method, path)
    assert not waiting(app)  # every module was needed by some request


def test_a_request_imports_only_the_modules_its_path_can_reach(tmp_path: Path) -> None:
    app = build(tmp_path, lazy=True)
    client = TestClient(app, raise_server_exceptions=False)
    client.get("/api/v2/monitor/health")
    loaded = {r.module.rsplit(".", 1)[1] for r in app.router.routes
              if isinstance(r, LazyRoutes) and r.loaded}
    assert loaded == {"monitor"}
    assert client.get("/api/v2/variables").status_code == 401  # the API's own refusal
    loaded = {r.module.rsplit(".", 1)[1] for r in app.router.routes
              if isinstance(r, LazyRoutes) and r.loaded}
    # bulk's routes start with /api/v2/variables too, but the walk stopped at the match
    assert loaded == {"monitor", "variables"}


def test_an_ide_page_imports_no_route_module(tmp_path: Path) -> None:
    app = build(tmp_path, lazy=True)

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"page {request.url.path}")

    pages = Starlette(routes=[Route("/{path:path}", page)])
    app.mount("/", pages)  # as NiceGUI mounts itself
    assert put_pages_first(app, pages)
    client = TestClient(app)
    for path in ("/login", "/", "/editor", "/dags/x"):
        assert client.get(path).text == f"page {path}"
    assert len(waiting(app)) == len(ROUTE_PREFIXES)
    # the API still answers, and the pages still do once it is imported
    assert client.get("/api/v2/dags").status_code == 401
    load_all(app)
    assert client.get("/editor").text == "page /editor"


def test_the_openapi_reference_describes_every_route(tmp_path: Path) -> None:
    eager = build(tmp_path / "eager", lazy=False).openapi()
    app = build(tmp_path / "lazy", lazy=True)
    assert app.openapi() == eager
    assert not waiting(app)
    assert "/api/v2/dags" in eager["paths"] and "/api/leoflow/ha" in eager["paths"]


def test_a_url_for_an_api_route_is_found_before_its_module_is_imported(
        tmp_path: Path) -> None:
    app = build(tmp_path, lazy=True)
    eager = build(tmp_path / "eager", lazy=False)
    name = next(r.name for r in module_routes("pools") if "{" not in r.path)
    assert str(app.url_path_for(name)) == str(eager.url_path_for(name))


@pytest.mark.asyncio
async def test_warm_up_includes_every_router_between_requests(tmp_path: Path) -> None:
    from leoflow.engine.api.lazy_routes import warm_up

    app = build(tmp_path, lazy=True)
    await warm_up(app)
    assert not waiting(app)
    assert sum(1 for r in app.router.routes if hasattr(r, "include_context")) \
        == len(ROUTE_PREFIXES)
