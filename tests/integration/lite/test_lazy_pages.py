"""Lite imports only its login page before it serves; the other pages are registered on
the first request for one of them (leoflow/ide/pages/__init__.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from leoflow.ide.pages import PagesOnFirstRequest, needs_pages
from tests.integration.lite.conftest import LiteDirs


def test_which_requests_need_the_other_pages() -> None:
    assert not needs_pages("/login") and not needs_pages("/")
    for path in ("/api/v2/monitor/health", "/_nicegui/3.0/static/quasar.js", "/auth/token",
                 "/airflow/", "/ui/dags", "/metrics"):
        assert not needs_pages(path), path
    for path in ("/dags", "/dags/x/runs/y", "/editor", "/admin/pools", "/runs", "/nope"):
        assert needs_pages(path), path


def test_the_middleware_loads_once_before_routing() -> None:
    loads: list[str] = []
    routed: list[tuple[str, int]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        routed.append((scope["path"], len(loads)))

    middleware = PagesOnFirstRequest(app, lambda: loads.append("loaded"))

    async def request(path: str) -> None:
        await middleware({"type": "http", "path": path}, None, None)

    async def scenario() -> None:
        await request("/login")
        await request("/api/v2/dags")
        await request("/dags")
        await request("/editor")

    asyncio.run(scenario())
    assert loads == ["loaded"]
    # the login page and the API were routed without the pages, /dags after they loaded
    assert routed == [("/login", 0), ("/api/v2/dags", 0), ("/dags", 1), ("/editor", 1)]


@pytest.mark.slow
def test_lite_serves_the_other_pages_after_its_login_page(
        bare_lite_dirs: LiteDirs, start_lite: Any) -> None:
    lite = start_lite(bare_lite_dirs)
    url = lite.wait_ready()
    login = httpx.get(f"{url}/login", timeout=30)
    assert login.status_code == 200 and "Leoflow" in login.text
    # registered on this first request: a browser without a session is sent to log in
    dags = httpx.get(f"{url}/dags", timeout=30, follow_redirects=False)
    assert dags.status_code in (302, 303, 307), (dags.status_code, dags.text[:200])
    assert "/login" in dags.headers["location"]
    missing = httpx.get(f"{url}/no-such-page", timeout=30)
    assert missing.status_code == 404
