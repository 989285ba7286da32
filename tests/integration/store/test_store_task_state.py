"""The task state store's table on SQLite and PostgreSQL: scope, replace, expiry, cap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete
from storetest import T0, make_dag, make_run

from leoflow.engine.store import Store
from leoflow.engine.store import task_state as ts
from leoflow.engine.store.tables import dag_run


async def test_values_are_scoped_to_one_task_instance(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        run = await make_run(conn, version)
        other_run = await make_run(conn, version, run_id="manual__2")
        other_dag_run = await make_run(conn, await make_dag(conn, "other"), run_id="manual__1")
        mine = ts.Scope(run.id, "job", -1)
        await ts.set_value(conn, mine, "job_id", {"id": "j-1", "rows": 4.0}, now=T0)
        await ts.set_value(conn, ts.Scope(run.id, "job", 0), "job_id", "index-0", now=T0)
        await ts.set_value(conn, ts.Scope(run.id, "other_task", -1), "job_id", "t", now=T0)
        await ts.set_value(conn, ts.Scope(other_run.id, "job", -1), "job_id", "r2", now=T0)
        await ts.set_value(conn, ts.Scope(other_dag_run.id, "job", -1), "job_id", "d", now=T0)
    async with store.connect() as conn:
        assert await ts.get_value(conn, mine, "job_id", now=T0) == (
            True, {"id": "j-1", "rows": 4.0})
        assert await ts.get_value(conn, ts.Scope(run.id, "job", 0), "job_id", now=T0) == (
            True, "index-0")
        assert await ts.get_value(conn, ts.Scope(other_run.id, "job"), "job_id", now=T0) == (
            True, "r2")
        assert await ts.get_value(conn, ts.Scope(run.id, "job", 1), "job_id", now=T0) == (
            False, None)
        assert await ts.list_values(conn, mine, now=T0) == {"job_id": {"id": "j-1",
                                                                        "rows": 4.0}}


async def test_replace_null_delete_and_clear(store: Store) -> None:
    async with store.begin() as conn:
        scope = ts.Scope((await make_run(conn, await make_dag(conn))).id, "t")
        await ts.set_value(conn, scope, "a", 1, now=T0)
        await ts.set_value(conn, scope, "a", [1, 2], now=T0)  # replaces
        await ts.set_value(conn, scope, "n", None, now=T0)  # a stored null is a value
        await ts.set_value(conn, scope, "b", "x", now=T0)
    async with store.begin() as conn:
        assert await ts.get_value(conn, scope, "a", now=T0) == (True, [1, 2])
        assert await ts.get_value(conn, scope, "n", now=T0) == (True, None)
        assert await ts.delete_value(conn, scope, "b") == 1
        assert await ts.delete_value(conn, scope, "b") == 0  # idempotent
        assert await ts.list_values(conn, scope, now=T0) == {"a": [1, 2], "n": None}
        assert await ts.clear(conn, scope) == 2
        assert await ts.list_values(conn, scope, now=T0) == {}


async def test_retention_default_explicit_and_never(store: Store) -> None:
    async with store.begin() as conn:
        scope = ts.Scope((await make_run(conn, await make_dag(conn))).id, "t")
        await ts.set_value(conn, scope, "default", 1, now=T0)
        await ts.set_value(conn, scope, "hour", 2, retention_seconds=3600, now=T0)
        await ts.set_value(conn, scope, "now", 3, retention_seconds=0, now=T0)
        await ts.set_value(conn, scope, "never", 4, never_expire=True, now=T0)
    later = T0 + timedelta(days=31)
    async with store.begin() as conn:
        assert await ts.list_values(conn, scope, now=T0) == {"default": 1, "hour": 2,
                                                             "never": 4}
        assert await ts.list_values(conn, scope, now=T0 + timedelta(hours=2)) == {
            "default": 1, "never": 4}
        assert await ts.list_values(conn, scope, now=later) == {"never": 4}
        assert await ts.purge_expired(conn, now=later) == 3
        assert await ts.get_value(conn, scope, "never", now=later) == (True, 4)


async def test_cap_and_bad_values_store_nothing(store: Store) -> None:
    async with store.begin() as conn:
        scope = ts.Scope((await make_run(conn, await make_dag(conn))).id, "t")
        with pytest.raises(ts.TaskStateTooLarge, match="above the 256 KB limit"):
            await ts.set_value(conn, scope, "big", "x" * (256 * 1024), now=T0)
        with pytest.raises(ts.TaskStateError, match="cannot be stored as JSON"):
            await ts.set_value(conn, scope, "nan", float("nan"), now=T0)
        with pytest.raises(ts.TaskStateError, match="1 to 512 characters"):
            await ts.set_value(conn, scope, "k" * 513, 1, now=T0)
        with pytest.raises(ts.TaskStateError, match="retention"):
            await ts.set_value(conn, scope, "neg", 1, retention_seconds=-1, now=T0)
        assert await ts.list_values(conn, scope, now=T0) == {}


async def test_deleting_the_run_deletes_its_task_state(store: Store) -> None:
    async with store.begin() as conn:
        run = await make_run(conn, await make_dag(conn))
        await ts.set_value(conn, ts.Scope(run.id, "t"), "k", 1, never_expire=True, now=T0)
    async with store.begin() as conn:
        await conn.execute(delete(dag_run).where(dag_run.c.id == run.id))
    async with store.connect() as conn:
        assert await ts.get_value(conn, ts.Scope(run.id, "t"), "k", now=T0) == (False, None)
