"""IDE pages are routed before the API's routes (leoflow/ide/pages_first.py).

The first IDE page after Lite's start used to pay for FastAPI building every API route it
walked past (about 0.2 s). These tests use real FastAPI apps: Leoflow's own API app
(``build_app``) with a pages app mounted at ``/`` as NiceGUI mounts itself, and small apps
for the routing rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from leoflow.ide.pages_first import PagesFirst, first_segments, put_pages_first


def pages_app() -> Starlette:
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"page {request.url.path}")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("pages socket")
        await websocket.close()

    return Starlette(routes=[WebSocketRoute("/_ws", socket),
                             Route("/{path:path}", page)])


def unbuilt_routers(app: Any) -> int:
    """Included routers whose routes FastAPI has not built yet."""
    return sum(1 for r in app.router.routes if hasattr(r, "include_context")
               and getattr(r, "_effective_candidates_version", None) is None)


def test_a_page_of_leoflows_app_builds_none_of_its_api_routes(tmp_path: Path) -> None:
    from leoflow.app.server import build_app
    from leoflow.app.settings import Settings

    app = build_app(Settings.load(env={}, overrides={"home": str(tmp_path / "home")}))
    pages = pages_app()
    app.mount("/", pages)
    assert put_pages_first(app, pages)
    routers = unbuilt_routers(app)
    assert routers > 10  # the API is made of included routers

    client = TestClient(app)
    answer = client.get("/editor", params={"file": "a/dag.py"})
    assert answer.status_code == 200 and answer.text == "page /editor"
    assert unbuilt_routers(app) == routers  # nothing of the API was built for the page
    # the API is still the API: an unauthenticated call is refused by it, not by the pages
    refused = client.get("/api/v2/dags")
    assert refused.status_code == 401 and "page" not in refused.text


def small_app(pages_first: bool) -> FastAPI:
    app = FastAPI()
    api = APIRouter(prefix="/api/v2")

    @api.get("/things")
    def things() -> dict[str, str]:
        return {"from": "api"}

    @api.post("/things")
    def add_thing() -> dict[str, str]:
        return {"added": "api"}

    app.include_router(api)

    @app.get("/metrics")
    def metrics() -> str:
        return "metrics"

    pages = pages_app()
    app.mount("/", pages)
    if pages_first:
        assert put_pages_first(app, pages)
        assert isinstance(app.router.routes[0], PagesFirst)
    return app


def test_every_path_gets_the_answer_it_got_without_the_shortcut() -> None:
    plain, first = TestClient(small_app(False)), TestClient(small_app(True))
    requests = [("GET", "/api/v2/things"), ("POST", "/api/v2/things"),
                ("DELETE", "/api/v2/things"), ("GET", "/api/v2/unknown"), ("GET", "/metrics"),
                ("GET", "/"), ("GET", "/editor"), ("GET", "/apiary"), ("GET", "/docs"),
                ("GET", "/dags/x/runs/y")]
    for method, path in requests:
        want, got = plain.request(method, path), first.request(method, path)
        assert (got.status_code, got.text) == (want.status_code, want.text), (method, path)
    assert first.get("/api/v2/things").json() == {"from": "api"}
    assert first.get("/editor").text == "page /editor"
    with first.websocket_connect("/_ws") as socket:
        assert socket.receive_text() == "pages socket"


def test_a_catch_all_route_turns_the_shortcut_off() -> None:
    app = FastAPI()

    @app.get("/{anything}/detail")
    def detail(anything: str) -> dict[str, str]:
        return {"detail": anything}

    pages = pages_app()
    app.mount("/", pages)
    put_pages_first(app, pages)
    client = TestClient(app)
    # the route before the pages still answers what it matches
    assert client.get("/editor/detail").json() == {"detail": "editor"}
    assert client.get("/editor").text == "page /editor"


def test_first_segments() -> None:
    router = APIRouter(prefix="/api")
    router.add_api_route("/v2/dags", lambda: None)
    app = FastAPI()
    app.include_router(router)
    app.add_api_route("/metrics", lambda: None)
    assert first_segments(app.router.routes) == {"api", "metrics", "openapi.json", "docs",
                                                 "redoc"}
    assert first_segments([Route("/{path:path}", lambda r: None)]) is None
    assert first_segments([Route("/", lambda r: None)]) is None


def test_without_the_pages_mount_nothing_is_inserted() -> None:
    app = FastAPI()
    assert put_pages_first(app, pages_app()) is False
    assert not any(isinstance(r, PagesFirst) for r in app.router.routes)
