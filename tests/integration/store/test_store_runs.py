"""DAG runs: uniqueness rules, state timestamps, listing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storetest import T0, make_dag, make_run

from leoflow.engine.store import (
    DagNotFoundError,
    DagRunNotFoundError,
    DuplicateRunError,
    Store,
    runs,
)


async def test_create_and_get(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        run = await make_run(
            conn,
            version,
            logical_date=T0,
            data_interval_start=T0,
            data_interval_end=T0,
            conf={"x": [1, 2]},
            triggered_by="rest_api",
            triggering_user_name="admin",
            note="first",
        )
    assert run.id > 0 and run.state == "queued" and run.queued_at is not None
    assert run.start_date is None and run.end_date is None
    assert run.conf == {"x": [1, 2]} and run.dag_version_id == version.id
    async with store.connect() as conn:
        assert await runs.get_run(conn, "etl", "manual__1") == run
        assert await runs.get_run_by_id(conn, run.id) == run
        assert await runs.get_run(conn, "etl", "other") is None


async def test_duplicate_run_id_is_typed_and_keeps_the_transaction(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        await make_run(conn, version, run_id="r1")
        with pytest.raises(DuplicateRunError) as caught:
            await make_run(conn, version, run_id="r1")
        assert caught.value.field == "run_id" and caught.value.dag_id == "etl"
        # The failed insert rolled back to its savepoint only: the transaction goes on.
        await make_run(conn, version, run_id="r2")
    async with store.connect() as conn:
        assert (await runs.list_runs(conn, dag_id="etl")).total == 2


async def test_duplicate_logical_date_but_null_dates_never_collide(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        await make_run(conn, version, run_id="a", logical_date=T0)
        with pytest.raises(DuplicateRunError) as caught:
            await make_run(conn, version, run_id="b", logical_date=T0)
        assert caught.value.field == "logical_date"
        assert caught.value.logical_date == T0
        for i in range(3):
            await make_run(conn, version, run_id=f"null_{i}", logical_date=None)
        other = await make_dag(conn, "other")
        await make_run(conn, other, run_id="a", logical_date=T0)  # per DAG only
    async with store.connect() as conn:
        assert (await runs.list_runs(conn, dag_id="etl")).total == 4


async def test_run_for_unknown_dag(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        with pytest.raises(DagNotFoundError):
            await runs.create_run(
                conn,
                dag_id="ghost",
                run_id="r",
                run_type="manual",
                dag_version_id=version.id,
                run_after=T0,
            )


async def test_state_changes_keep_timestamps_consistent(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        run = await make_run(conn, version)
        t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
        running = await runs.update_run_state(conn, run.id, "running", now=t1)
        assert running.start_date == t1 and running.end_date is None
        again = await runs.update_run_state(conn, run.id, "running", now=t2)
        assert again.start_date == t1  # a run starts once
        done = await runs.update_run_state(conn, run.id, "success", now=t2)
        assert done.end_date == t2 and done.start_date == t1
        cleared = await runs.update_run_state(conn, run.id, "queued", now=t3)
        assert cleared.queued_at == t3 and cleared.start_date is None and cleared.end_date is None
        noted = await runs.set_run_note(conn, run.id, "why")
        assert noted.note == "why"
        decided = await runs.set_last_scheduling_decision(conn, run.id, t3)
        assert decided.last_scheduling_decision == t3
        with pytest.raises(DagRunNotFoundError):
            await runs.update_run_state(conn, 10_000, "running")


async def test_list_filters_order_pagination(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        other = await make_dag(conn, "other")
        for i in range(5):
            run = await make_run(
                conn,
                version,
                run_id=f"r{i}",
                run_after=T0 + timedelta(hours=i),
                run_type="scheduled" if i % 2 else "manual",
            )
            if i >= 3:
                await runs.update_run_state(conn, run.id, "running")
        await make_run(conn, other, run_id="o")
    async with store.connect() as conn:
        everything = await runs.list_runs(conn)
        assert everything.total == 6
        newest = await runs.list_runs(conn, dag_id="etl", limit=2)
        assert [r.run_id for r in newest.items] == ["r4", "r3"] and newest.total == 5
        oldest = await runs.list_runs(conn, dag_id="etl", order="run_after", limit=2, offset=1)
        assert [r.run_id for r in oldest.items] == ["r1", "r2"]
        running = await runs.list_runs(conn, dag_id="etl", state="running")
        assert {r.run_id for r in running.items} == {"r3", "r4"}
        queued_or_running = await runs.list_runs(conn, state=["queued", "running"])
        assert queued_or_running.total == 6
        scheduled = await runs.list_runs(conn, run_type="scheduled")
        assert {r.run_id for r in scheduled.items} == {"r1", "r3"}
        window = await runs.list_runs(
            conn, run_after_gte=T0 + timedelta(hours=1), run_after_lte=T0 + timedelta(hours=2)
        )
        assert {r.run_id for r in window.items} == {"r1", "r2"}
        assert await runs.count_runs(conn, "etl") == 5
        assert await runs.count_runs(conn, "etl", ("queued",)) == 3
        empty = await runs.list_runs(conn, dag_id="etl", limit=0)
        assert empty.items == () and empty.total == 5


async def test_delete_run(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        await make_run(conn, version)
        assert await runs.delete_run(conn, "etl", "manual__1") is True
        assert await runs.delete_run(conn, "etl", "manual__1") is False
