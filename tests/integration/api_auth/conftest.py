"""Fixtures: a migrated SQLite store per test (copied from one template per session), a
fake clock, the ``AuthService`` and the API around them (``api``)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from leoflow.engine.auth.service import AuthService
from leoflow.engine.store import Store
from tests.integration.api_auth.harness import ApiHarness, FakeClock, open_auth


@pytest.fixture(scope="session")
def auth_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth-template") / "leoflow.db"

    async def migrate() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{path.as_posix()}", auto_migrate=True)
        await store.close()

    asyncio.run(migrate())
    return path


@pytest.fixture
async def store(auth_sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Store]:
    target = tmp_path / "leoflow.db"
    shutil.copyfile(auth_sqlite_template, target)
    opened = await Store.open(f"sqlite+aiosqlite:///{target.as_posix()}")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
async def auth(store: Store, home: Path, clock: FakeClock) -> AuthService:
    return await open_auth(store, home, clock)


@pytest.fixture
async def api(store: Store, auth: AuthService, clock: FakeClock) -> AsyncIterator[ApiHarness]:
    harness = ApiHarness(store=store, auth=auth, clock=clock)
    try:
        yield harness
    finally:
        await harness.close()
