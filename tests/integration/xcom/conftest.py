"""The XCom behaviour suite runs on every backend: SQL on SQLite and PostgreSQL, and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from leoflow.engine.store import Store, dags, runs
from leoflow.engine.xcom import RedisXComBackend, SqlXComBackend, XComBackend, XComPolicy
from tests.integration.xcom.redis_server import run_redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One real Redis server for the session; tests use distinct key prefixes."""
    with run_redis() as url:
        yield url


@dataclass
class Harness:
    """A backend and a way to make dag runs for it (the SQL table has a foreign key)."""

    backend: XComBackend
    new_run: Callable[[], Awaitable[int]]
    make: Callable[[XComPolicy], XComBackend]
    store: Store | None = None


async def _sql_harness(url: str) -> tuple[Harness, Store]:
    store = await Store.open(url, auto_migrate=True)
    async with store.begin() as conn:
        await dags.upsert_dag(conn, "xcom_dag", fileloc="xcom_dag/dag.py")
        version = await dags.register_version(conn, "xcom_dag", {"dag_id": "xcom_dag",
                                                                  "tasks": []}, "")
    counter = iter(range(1, 10_000))

    async def new_run() -> int:
        async with store.begin() as conn:
            run = await runs.create_run(conn, dag_id="xcom_dag", run_id=f"manual__{next(counter)}",
                                        dag_version_id=version.id, run_type="manual",
                                        run_after=datetime(2026, 1, 1, tzinfo=UTC))
        return run.id

    return Harness(SqlXComBackend(store), new_run, lambda p: SqlXComBackend(store, p),
                   store), store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
async def xcoms(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The same suite against each backend."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = f"t{uuid.uuid4().hex[:12]}:"
        made: list[RedisXComBackend] = []

        def make(policy: XComPolicy | None = None) -> RedisXComBackend:
            made.append(RedisXComBackend(url, policy, prefix=prefix))
            return made[-1]

        counter = iter(range(1, 10_000))

        async def new_run() -> int:
            return next(counter)

        backend = make()
        try:
            yield Harness(backend, new_run, make)
        finally:
            async for key in backend.redis.scan_iter(match=f"{prefix}*"):
                await backend.redis.delete(key)
            for each in made:
                await each.close()
        return
    url = request.getfixturevalue(f"{request.param}_url")
    harness, store = await _sql_harness(url)
    try:
        yield harness
    finally:
        await store.close()
