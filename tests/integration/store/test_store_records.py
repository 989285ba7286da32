"""XCom, pools, import errors and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storetest import T0, make_dag, make_run

from leoflow.engine.store import (
    NewTaskInstance,
    PoolError,
    Store,
    audit,
    import_errors,
    pools,
    task_instances,
    utcnow,
    xcom,
)


async def test_xcom_scalars_keep_their_json_type(store: Store) -> None:
    """A bare float that is a whole number stays a float (SQLite once gave it back as an
    int), and numeric-looking strings stay strings."""
    # (not 1e300: PostgreSQL's JSONB prints it without an exponent, so it reads back an int)
    values = {"f": 4.0, "i": 4, "s": "4.0", "neg": -0.0, "half": 0.5, "t": True, "n": None,
              "text": "12", "nested": {"x": 1.0}}
    async with store.begin() as conn:
        run = await make_run(conn, await make_dag(conn))
        for task_id, value in values.items():
            await xcom.put_xcom(conn, dag_run_id=run.id, task_id=task_id, value=value)
    async with store.connect() as conn:
        for task_id, value in values.items():
            got = await xcom.get_xcom(conn, run.id, task_id)
            assert got is not None
            assert (got.value, type(got.value)) == (value, type(value)), task_id


async def test_xcom_put_get_replace_and_ttl(store: Store) -> None:
    async with store.begin() as conn:
        run = await make_run(conn, await make_dag(conn))
        await xcom.put_xcom(conn, dag_run_id=run.id, task_id="a", value={"answer": 42})
        await xcom.put_xcom(conn, dag_run_id=run.id, task_id="a", key="k", value="v")
        await xcom.put_xcom(conn, dag_run_id=run.id, task_id="none", value=None)
        for i, value in enumerate([10, 20, 30]):
            await xcom.put_xcom(conn, dag_run_id=run.id, task_id="m", map_index=i, value=value)
        await xcom.put_xcom(
            conn, dag_run_id=run.id, task_id="old", value=1, expires_at=utcnow() - timedelta(1)
        )
    async with store.connect() as conn:
        got = await xcom.get_xcom(conn, run.id, "a")
        assert got is not None and got.value == {"answer": 42}
        assert (got.dag_id, got.run_id, got.key, got.map_index) == (
            "etl",
            run.run_id,
            "return_value",
            -1,
        )
        null = await xcom.get_xcom(conn, run.id, "none")
        assert null is not None and null.value is None  # a stored null is not "absent"
        assert await xcom.get_xcom(conn, run.id, "missing") is None
        assert await xcom.get_xcom(conn, run.id, "old") is None  # expired reads as absent
        assert await xcom.get_mapped_values(conn, run.id, "m") == {0: 10, 1: 20, 2: 30}
        listed = await xcom.list_xcom(conn, dag_id="etl", run_id=run.run_id)
        assert listed.total == 6
        assert (await xcom.list_xcom(conn, task_id="m", limit=2)).total == 3
    async with store.begin() as conn:
        await xcom.put_xcom(conn, dag_run_id=run.id, task_id="a", value=[1, 2])
        assert (await xcom.get_xcom(conn, run.id, "a")).value == [1, 2]  # type: ignore[union-attr]
        assert await xcom.purge_expired(conn) == 1
        assert await xcom.delete_for_task(conn, run.id, "m", map_index=0) == 1
        assert await xcom.delete_for_task(conn, run.id, "m") == 2


async def test_pools(store: Store) -> None:
    async with store.begin() as conn:
        await pools.upsert_pool(conn, "db", 2, "the warehouse")
        resized = await pools.upsert_pool(conn, "db", 4)
        assert resized.slots == 4 and resized.description is None
        with pytest.raises(PoolError):
            await pools.upsert_pool(conn, "bad", -1)
        with pytest.raises(PoolError):
            await pools.delete_pool(conn, "default_pool")
        run = await make_run(conn, await make_dag(conn))
        tis = await task_instances.create_task_instances(
            conn,
            run,
            [
                NewTaskInstance("a", pool="db", pool_slots=3),
                NewTaskInstance("b"),
                NewTaskInstance("c"),
            ],
        )
        await task_instances.set_task_state(conn, tis[0].id, "running")
        await task_instances.set_task_state(conn, tis[1].id, "queued")
        await task_instances.set_task_state(conn, tis[2].id, "success")
        assert await pools.slot_usage(conn) == {"db": 3, "default_pool": 1}
    async with store.connect() as conn:
        page = await pools.list_pools(conn)
        assert [p.name for p in page.items] == ["db", "default_pool"] and page.total == 2
    async with store.begin() as conn:
        assert await pools.delete_pool(conn, "db") is True
        assert await pools.delete_pool(conn, "db") is False


async def test_import_errors(store: Store) -> None:
    async with store.begin() as conn:
        first = await import_errors.record_import_error(
            conn, filename="a/dag.py", message="SyntaxError", stack_trace="line 3"
        )
        await import_errors.record_import_error(conn, filename="b/dag.py", message="x")
        assert first.id > 0
        replaced = await import_errors.replace_for_file(
            conn, "a/dag.py", [("NameError: x", "tb1"), ("NameError: y", "tb2")], dag_id="a"
        )
        assert [e.message for e in replaced] == ["NameError: x", "NameError: y"]
    async with store.connect() as conn:
        everything = await import_errors.list_import_errors(conn)
        assert everything.total == 3
        assert (await import_errors.list_import_errors(conn, filename_pattern="A/")).total == 2
        assert await import_errors.get_import_error(conn, first.id) is None  # replaced
        got = await import_errors.get_import_error(conn, replaced[0].id)
        assert got == replaced[0]
    async with store.begin() as conn:
        assert await import_errors.clear_for_file(conn, "a/dag.py") == 2


async def test_audit_log(store: Store) -> None:
    async with store.begin() as conn:
        for i in range(5):
            await audit.record_event(
                conn,
                "trigger" if i % 2 else "pause",
                username="ada",
                dag_id="etl",
                extra={"i": i},
                occurred_at=T0 + timedelta(minutes=i),
            )
        system = await audit.record_event(conn, "scheduler_start")
    assert system.username is None and system.extra is None
    async with store.connect() as conn:
        newest = await audit.list_events(conn, limit=2)
        assert newest.total == 6 and newest.items[0] == system
        triggers = await audit.list_events(conn, event="trigger", order="occurred_at")
        assert [e.extra for e in triggers.items] == [{"i": 1}, {"i": 3}]
        window = await audit.list_events(
            conn, dag_id="etl", after=T0 + timedelta(minutes=1), before=T0 + timedelta(minutes=3)
        )
        assert window.total == 2
        assert (await audit.list_events(conn, username="ada")).total == 5
