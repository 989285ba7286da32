"""The store's behaviour suite runs every test on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from leoflow.engine.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store migrated to head."""
    opened = await Store.open(database_url, auto_migrate=True)
    try:
        yield opened
    finally:
        await opened.close()
