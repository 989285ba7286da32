"""Many writers at once: serialized on SQLite, never "database is locked"."""

from __future__ import annotations

import asyncio

import pytest
from storetest import make_dag, make_run

from leoflow.engine.store import NestedWriteError, Store, audit, runs, xcom


async def test_fifty_concurrent_writers_and_readers(store: Store) -> None:
    async with store.begin() as conn:
        run = await make_run(conn, await make_dag(conn))

    async def writer(i: int) -> None:
        for step in range(4):
            async with store.begin() as conn:
                # Read, yield, then write: with plain deferred SQLite transactions and no
                # writer lock, this pattern fails at once with "database is locked".
                await audit.list_events(conn, limit=1)
                await asyncio.sleep(0)
                await audit.record_event(conn, "tick", extra={"writer": i, "step": step})
                await xcom.put_xcom(conn, dag_run_id=run.id, task_id=f"t{i}", value=step)

    async def reader() -> int:
        seen = 0
        for _ in range(10):
            async with store.connect() as conn:
                seen = (await audit.list_events(conn, limit=1)).total
            await asyncio.sleep(0)
        return seen

    await asyncio.gather(*(writer(i) for i in range(50)), *(reader() for _ in range(5)))
    async with store.connect() as conn:
        assert (await audit.list_events(conn)).total == 200
        assert (await xcom.list_xcom(conn, dag_run_id=run.id, limit=None)).total == 50
        assert {x.value for x in (await xcom.list_xcom(conn, limit=None)).items} == {3}


async def test_a_reader_does_not_block_a_writer(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
    async with store.connect() as reader:
        assert (await runs.list_runs(reader)).total == 0  # holds a read snapshot open
        async with asyncio.timeout(5), store.begin() as conn:
            await make_run(conn, version)
    async with store.connect() as conn:
        assert (await runs.list_runs(conn)).total == 1


async def test_failed_transaction_rolls_back_and_releases_the_writer(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.begin() as conn:
            await audit.record_event(conn, "lost")
            raise RuntimeError("boom")
    async with asyncio.timeout(5), store.begin() as conn:
        assert (await audit.list_events(conn)).total == 0


async def test_nested_begin_raises_instead_of_deadlocking(store: Store) -> None:
    async with store.begin():
        with pytest.raises(NestedWriteError):
            async with store.begin():
                pass  # pragma: no cover
    # A task started inside a write transaction may write once it is its turn.
    async with store.begin() as conn:
        child = asyncio.create_task(_write_once(store))
        await audit.record_event(conn, "parent")
    await asyncio.wait_for(child, 5)


async def _write_once(store: Store) -> None:
    async with store.begin() as conn:
        await audit.record_event(conn, "child")


async def test_two_stores_on_one_sqlite_file(sqlite_url: str) -> None:
    """A second process (e.g. the CLI) writing the Lite file waits instead of failing."""
    async with (
        await Store.open(sqlite_url, auto_migrate=True) as first,
        await Store.open(sqlite_url) as second,
    ):

        async def write(store: Store, n: int) -> None:
            for _ in range(n):
                async with store.begin() as conn:
                    await audit.record_event(conn, "tick")

        await asyncio.gather(
            *(write(first, 10) for _ in range(10)), *(write(second, 10) for _ in range(10))
        )
        async with first.connect() as conn:
            assert (await audit.list_events(conn)).total == 200
