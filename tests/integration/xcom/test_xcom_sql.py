"""What only the SQL backend does: the caller's transaction, the sweep, the sweeper task."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from leoflow.engine.store import Store
from leoflow.engine.store import xcom as repo
from leoflow.engine.xcom import SqlXComBackend, XComPolicy, XComSweeper, XComTooLarge
from tests.integration.xcom.conftest import _sql_harness


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    harness, store = await _sql_harness(request.getfixturevalue(f"{request.param}_url"))
    try:
        yield harness
    finally:
        await store.close()


async def _rows(store: Store) -> list[tuple[str, int]]:
    """Every row, expired or not (read as of long ago)."""
    async with store.connect() as conn:
        page = await repo.list_xcom(conn, limit=None, now=datetime(2000, 1, 1, tzinfo=UTC))
    return [(r.task_id, r.map_index) for r in page.items]


async def test_push_inside_the_callers_transaction(sql) -> None:  # type: ignore[no-untyped-def]
    store, backend, run = sql.store, sql.backend, await sql.new_run()

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with store.begin() as conn:
            await backend.push(dag_run_id=run, task_id="t", value=1, conn=conn)
            assert (await backend.get(run, "t", conn=conn)).value == 1
            raise Abort
    assert await backend.get(run, "t") is None  # rolled back with the caller's transaction
    async with store.begin() as conn:
        await backend.push(dag_run_id=run, task_id="t", value=2, conn=conn)
        # An oversize value fails before touching the database: the transaction stays usable.
        with pytest.raises(XComTooLarge):
            await backend.push(dag_run_id=run, task_id="big", value="x" * 300_000, conn=conn)
        assert await backend.delete_task(run, "nothing", conn=conn) == 0
    assert (await backend.get(run, "t")).value == 2
    assert (await backend.list(dag_run_id=run)).total == 1


async def test_sweep_deletes_expired_rows_only(sql) -> None:  # type: ignore[no-untyped-def]
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    backend = SqlXComBackend(sql.store, XComPolicy(ttl_seconds=60), clock=lambda: now[0])
    keep = SqlXComBackend(sql.store, XComPolicy(ttl_seconds=0), clock=lambda: now[0])
    run = await sql.new_run()
    await backend.push(dag_run_id=run, task_id="a", value=1)
    now[0] += timedelta(seconds=30)
    await backend.push(dag_run_id=run, task_id="b", value=2)
    await keep.push(dag_run_id=run, task_id="c", value=3)
    now[0] += timedelta(seconds=40)  # a expired (70 s old), b not (40 s old)
    assert await backend.get(run, "a") is None
    assert (await backend.get(run, "b")).value == 2
    assert await _rows(sql.store) == [("a", -1), ("b", -1), ("c", -1)]
    assert await backend.sweep() == 1
    assert await _rows(sql.store) == [("b", -1), ("c", -1)]
    assert await backend.sweep(now[0] + timedelta(days=365)) == 1
    assert await _rows(sql.store) == [("c", -1)]


async def test_the_sweeper_runs_in_the_background(sql) -> None:  # type: ignore[no-untyped-def]
    backend = SqlXComBackend(sql.store, XComPolicy(ttl_seconds=0.05))
    run = await sql.new_run()
    for i in range(3):
        await backend.push(dag_run_id=run, task_id="m", map_index=i, value=i)
    sweeper = XComSweeper(backend, interval=0.05)
    sweeper.start()
    sweeper.start()  # idempotent
    try:
        for _ in range(100):
            if not await _rows(sql.store):
                break
            await asyncio.sleep(0.02)
        assert await _rows(sql.store) == []
        assert sweeper.swept == 3 and sweeper.running
    finally:
        await sweeper.stop()
        await sweeper.stop()
    assert not sweeper.running


async def test_a_failing_sweep_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    class Flaky:
        calls = 0

        async def sweep(self, now: datetime | None = None) -> int:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise ConnectionError("database restarting")
            return 2

    sweeper = XComSweeper(Flaky(), interval=0.01)  # type: ignore[arg-type]
    sweeper.start()
    try:
        for _ in range(200):
            if sweeper.swept:
                break
            await asyncio.sleep(0.01)
    finally:
        await sweeper.stop()
    assert sweeper.swept >= 2
    assert "XCom sweep failed" in caplog.text
    with pytest.raises(ValueError):
        XComSweeper(Flaky(), interval=0)  # type: ignore[arg-type]
