"""Fixtures of general use across the suite: database URLs for both metadata backends.

PostgreSQL is real (pgserver ships the binaries): one server per test session, a fresh
database per test. Tests that use it are marked ``postgres`` (``-m "not postgres"`` skips
them).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A PostgreSQL server for the whole session (stopped at the end)."""
    pgserver = pytest.importorskip("pgserver", reason="PostgreSQL tests need pgserver (dev extra)")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    # A throwaway server: durability only costs time (CREATE DATABASE waits on fsync).
    server.psql(
        "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
        " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
    )
    yield server
    server.cleanup()


def _asyncpg_url(server: Any, database: str) -> str:
    # pgserver listens on a Unix socket only; asyncpg takes its folder as ``host``.
    info = server.get_postmaster_info()
    if info.socket_dir is not None:
        return f"postgresql+asyncpg://postgres@/{database}?host={info.socket_dir}&port={info.port}"
    return f"postgresql+asyncpg://postgres@{info.hostname}:{info.port}/{database}"


def create_database(server: Any, name: str, template: str | None = None) -> None:
    """CREATE DATABASE, restarting the session's server once if it went away.

    The throwaway server runs without fsync; should a backend ever crash, the postmaster's
    recovery can leave it stopped, and every later test would then fail at setup.
    """
    statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    try:
        server.psql(statement + ";")
    except subprocess.CalledProcessError:
        import pgserver

        pgserver.get_server(server.pgdata, cleanup_mode="stop")
        server.psql(statement + ";")


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """The URL of a new, empty PostgreSQL database.

    It is not dropped afterwards: the whole cluster belongs to this test session and is
    deleted with it, and dropping databases (with or without ``FORCE``) has made this
    pgserver build crash a backend now and then, taking the server down for every later
    test.
    """
    name = f"test_{uuid.uuid4().hex[:16]}"
    create_database(postgres_server, name)
    return _asyncpg_url(postgres_server, name)


@pytest.fixture(scope="session")
def real_airflow(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A DAG environment holding the real Airflow 3.3.2 and providers, built once per
    session through Leoflow's environment code (``tests/real_airflow.py`` says how to use
    it)."""
    from tests.real_airflow import build

    return build(tmp_path_factory.mktemp("real-airflow-home"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file (not created yet) in the test's temporary folder."""
    return f"sqlite+aiosqlite:///{(tmp_path / 'leoflow.db').as_posix()}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser journeys last: Playwright's sync API holds an event loop in the main
    thread while open, so nothing asyncio may run between its tests; last is safest."""
    browser = [item for item in items if "/e2e/browser/" in item.nodeid.replace("\\", "/")
               or item.nodeid.startswith("tests/e2e/browser/")]
    if browser:
        chosen = {id(item) for item in browser}
        items[:] = [item for item in items if id(item) not in chosen] + browser
