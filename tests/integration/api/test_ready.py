"""GET /api/leoflow/ready: the readiness probe. 200 while the metadata database answers,
503 with the reason when it does not; no login. The broken database is a real one: a
SQLite file overwritten with bytes that are not a database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from leoflow.engine.api import create_api
from leoflow.engine.api.context import ApiContext
from leoflow.engine.store import Store


def app_on(store: Store) -> httpx.AsyncClient:
    # only the store is used by the probe; the rest of the context is not needed here
    context = ApiContext(store=store, operations=None, auth=None, xcom=None,  # type: ignore[arg-type]
                         logs=None, version="test", started_at=datetime.now(UTC))
    transport = httpx.ASGITransport(app=create_api(context))
    return httpx.AsyncClient(transport=transport, base_url="http://leoflow.test")


async def test_ready_while_the_database_answers_and_503_when_it_does_not(
        tmp_path: Path) -> None:
    path = tmp_path / "leoflow.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path.as_posix()}", auto_migrate=True)
    try:
        async with app_on(store) as client:
            ready = await client.get("/api/leoflow/ready")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            await store.engine.dispose()  # no pooled connection hides the damage
            for leftover in tmp_path.glob("leoflow.db-*"):
                leftover.unlink()
            path.write_bytes(b"not a database " * 300)
            broken = await client.get("/api/leoflow/ready")
            assert broken.status_code == 503
            assert broken.json()["status"] == "not ready"
            assert "metadata database is unreachable" in broken.json()["reason"]
            health = await client.get("/api/v2/monitor/health")  # liveness stays 200
            assert health.status_code == 200
            assert health.json()["metadatabase"]["status"] == "unhealthy"
    finally:
        await store.engine.dispose()
