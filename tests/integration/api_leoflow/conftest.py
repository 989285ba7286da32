"""An in-process API on a real control plane (SQLite, scheduler, gRPC agent service),
called through httpx's ASGI transport.

Authentication is the real ``AuthService``: each handle of ``TOKENS`` is a real user with a
real API token (tests/integration/real_auth.py); any other token is refused by the service.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from leoflow.app.controlplane import ControlPlane, start_control_plane
from leoflow.app.settings import Settings
from leoflow.engine.api import ApiContext, create_api
from leoflow.engine.api.metrics import Metrics, install_request_middleware
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.compiler.compile import CompiledProject, compile_project
from tests.integration.real_auth import auth_service, authorization, enroll

ROOT = Path(__file__).resolve().parents[3]

TOKENS = {
    "op-token": Principal("olivia", "Op", "default"),
    "admin-token": Principal("ada", "Admin", "default"),
    "viewer-token": Principal("victor", "Viewer", "default"),
    "user-token": Principal("uma", "User", "default"),
    "acme-op-token": Principal("otto", "Op", "acme"),
}


def bearer(token: str) -> dict[str, str]:
    """``Authorization`` for a handle of ``TOKENS`` (its real API token) or any token."""
    return authorization(token, TOKENS)


@functools.cache
def _hello() -> CompiledProject:
    return compile_project(ROOT / "examples" / "hello")


@pytest.fixture
def hello() -> CompiledProject:
    """examples/hello compiled once per session (a copy per test: tests may edit it)."""
    return copy.deepcopy(_hello())


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[tuple[ControlPlane, Metrics]]:
    metrics = Metrics()
    settings = Settings(home=tmp_path / "home",
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'leoflow.db'}")
    started = await start_control_plane(settings, parallelism=8,
                                        listeners=[metrics.listener],
                                        on_xcom_push=metrics.xcom_pushed)
    metrics.start(started.store, parallelism=8)
    await enroll(auth_service(started.store, settings.home), TOKENS)
    try:
        yield started, metrics
    finally:
        await metrics.stop()
        await started.stop()


def make_app(plane: ControlPlane, metrics: Metrics | None = None, **extras: Any) -> Any:
    context = ApiContext.of(plane.services,
                            auth=auth_service(plane.store, plane.settings.home),
                            version="test", started_at=datetime.now(UTC), extras=extras)
    app = create_api(context)
    install_request_middleware(app, metrics)
    return app


@pytest.fixture
def app_factory(plane: tuple[ControlPlane, Metrics]) -> Callable[..., Any]:
    control, metrics = plane
    return functools.partial(make_app, control, metrics)


@pytest.fixture
async def client(app_factory: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = app_factory()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://leoflow.test") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http
