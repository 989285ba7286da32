"""Task instances, conditional updates, and the per-try history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storetest import T0, make_dag, make_run

from leoflow.engine.store import (
    DuplicateTaskInstanceError,
    NewTaskInstance,
    Store,
    TaskInstanceNotFoundError,
    runs,
    task_instances,
)


async def _run_with_tis(store: Store):  # type: ignore[no-untyped-def]
    async with store.begin() as conn:
        version = await make_dag(conn)
        run = await make_run(conn, version)
        tis = await task_instances.create_task_instances(
            conn,
            run,
            [
                NewTaskInstance("extract", max_tries=2, operator="python"),
                NewTaskInstance("load", pool="db", pool_slots=2, priority_weight=5),
                *(NewTaskInstance("double", map_index=i) for i in range(3)),
            ],
        )
    return run, tis


async def test_create_many_and_read_back(store: Store) -> None:
    run, tis = await _run_with_tis(store)
    assert [(t.task_id, t.map_index) for t in tis] == [
        ("extract", -1),
        ("load", -1),
        ("double", 0),
        ("double", 1),
        ("double", 2),
    ]
    extract = tis[0]
    assert extract.state is None and extract.try_number == 0 and extract.max_tries == 2
    assert extract.dag_id == "etl" and extract.run_id == run.run_id
    assert extract.pool == "default_pool" and extract.pool_slots == 1
    assert len(extract.id) == 36
    async with store.connect() as conn:
        assert await task_instances.get_task_instance(conn, run.id, "extract") == extract
        assert await task_instances.get_task_instance_by_id(conn, extract.id) == extract
        assert await task_instances.get_task_instance(conn, run.id, "double", 5) is None
        listed = await task_instances.list_for_run(conn, run.id)
        assert [(t.task_id, t.map_index) for t in listed] == [
            ("double", 0),
            ("double", 1),
            ("double", 2),
            ("extract", -1),
            ("load", -1),
        ]
        assert len(await task_instances.list_for_run(conn, run.id, task_id="double")) == 3
        no_state = await task_instances.list_for_run(conn, run.id, state=[None])
        assert len(no_state) == 5


async def test_unique_key(store: Store) -> None:
    run, _ = await _run_with_tis(store)
    async with store.begin() as conn:
        with pytest.raises(DuplicateTaskInstanceError) as caught:
            await task_instances.create_task_instances(conn, run, [NewTaskInstance("load")])
        assert (caught.value.task_id, caught.value.map_index) == ("load", -1)
        with pytest.raises(DuplicateTaskInstanceError):
            await task_instances.create_task_instances(
                conn, run, [NewTaskInstance("new"), NewTaskInstance("new")]
            )
        # Same task id, another map index, is a different instance; the transaction is alive.
        added = await task_instances.create_task_instances(
            conn, run, [NewTaskInstance("double", map_index=3)]
        )
        assert added[0].map_index == 3
        assert await task_instances.create_task_instances(conn, run, []) == []


async def test_conditional_updates(store: Store) -> None:
    _, tis = await _run_with_tis(store)
    ti = tis[0]
    async with store.begin() as conn:
        won = await task_instances.update_task_instance(
            conn, ti.id, expected_states=[None], state="scheduled", waiting_reason=None
        )
        assert won is not None and won.state == "scheduled"
        lost = await task_instances.update_task_instance(
            conn, ti.id, expected_states=[None], state="queued"
        )
        assert lost is None
        current = await task_instances.get_task_instance_by_id(conn, ti.id)
        assert current is not None and current.state == "scheduled"
        with pytest.raises(TypeError, match="stat"):
            await task_instances.update_task_instance(conn, ti.id, stat="typo")
        with pytest.raises(TaskInstanceNotFoundError):
            await task_instances.update_task_instance(conn, "missing", state="queued")


async def test_state_timestamps_and_try_history(store: Store) -> None:
    run, tis = await _run_with_tis(store)
    ti = tis[0]
    t = [T0 + timedelta(seconds=s) for s in range(0, 100, 10)]
    async with store.begin() as conn:
        await task_instances.set_task_state(conn, ti.id, "scheduled", now=t[0], try_number=1)
        await task_instances.set_task_state(conn, ti.id, "queued", now=t[1])
        await task_instances.set_task_state(
            conn,
            ti.id,
            "running",
            now=t[2],
            hostname="box",
            pid=42,
            executor="subprocess",
            external_executor_id="42",
        )
        failed = await task_instances.set_task_state(
            conn,
            ti.id,
            "up_for_retry",
            now=t[4],
            expected_states=["running"],
            next_retry_at=t[5],
        )
        assert failed is not None
        assert (failed.scheduled_at, failed.queued_at, failed.start_date) == (t[0], t[1], t[2])
        assert failed.end_date == t[4] and failed.duration == 20.0
        first = await task_instances.record_try(conn, ti.id, error="boom")
        assert (first.try_number, first.state, first.error) == (1, "up_for_retry", "boom")
        assert first.hostname == "box" and first.duration == 20.0

        await task_instances.set_task_state(conn, ti.id, "queued", now=t[6], try_number=2)
        running = await task_instances.set_task_state(conn, ti.id, "running", now=t[7])
        assert running is not None and running.end_date is None and running.duration is None
        await task_instances.set_task_state(conn, ti.id, "success", now=t[8])
        await task_instances.record_try(conn, ti.id)
        await task_instances.record_try(conn, ti.id)  # a repeated report changes nothing

    async with store.connect() as conn:
        tries = await task_instances.list_tries(conn, run.id, "extract")
        assert [(h.try_number, h.state) for h in tries] == [(1, "up_for_retry"), (2, "success")]
        assert tries[1].start_date == t[7] and tries[1].error is None
        assert await task_instances.list_tries(conn, run.id, "load") == []


async def test_list_page_with_filters(store: Store) -> None:
    run, tis = await _run_with_tis(store)
    async with store.begin() as conn:
        await task_instances.set_task_state(conn, tis[1].id, "running")
        other_run = await make_run(conn, await make_dag(conn, "other"), run_id="manual__2")
        await task_instances.create_task_instances(conn, other_run, [NewTaskInstance("x")])
    async with store.connect() as conn:
        all_tis = await task_instances.list_task_instances(conn, limit=4)
        assert all_tis.total == 6 and len(all_tis.items) == 4
        rest = await task_instances.list_task_instances(conn, limit=4, offset=4)
        assert {t.id for t in all_tis.items}.isdisjoint({t.id for t in rest.items})
        of_run = await task_instances.list_task_instances(
            conn, dag_id="etl", run_id=run.run_id, task_id="double"
        )
        assert [t.map_index for t in of_run.items] == [0, 1, 2]
        running = await task_instances.list_task_instances(conn, state=["running"])
        assert [t.task_id for t in running.items] == ["load"]
        in_db_pool = await task_instances.list_task_instances(conn, pool="db")
        assert in_db_pool.total == 1
        unmapped = await task_instances.list_task_instances(conn, dag_id="etl", map_index=-1)
        assert unmapped.total == 2


async def test_run_deletion_removes_its_task_instances(store: Store) -> None:
    run, tis = await _run_with_tis(store)
    async with store.begin() as conn:
        await task_instances.record_try(conn, tis[0].id)
        await runs.delete_run(conn, "etl", run.run_id)
        assert await task_instances.get_task_instance_by_id(conn, tis[0].id) is None
        assert await task_instances.list_tries(conn, run.id, "extract") == []
