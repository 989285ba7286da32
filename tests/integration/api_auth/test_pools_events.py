"""Pools with their slot counts, and the event log, as the official client reads them."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow_client.client.models import (
    EventLogCollectionResponse,
    EventLogResponse,
    PoolCollectionResponse,
    PoolResponse,
)

from leoflow.engine.store import audit, dags, runs, task_instances
from leoflow.engine.store.task_instances import NewTaskInstance
from tests.integration.api_auth.harness import ApiHarness

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def _dag_with_tasks(api: ApiHarness, dag_id: str, tenant: str,
                          states: dict[str, str], pool: str = "default_pool") -> None:
    spec = {"schema_version": 1, "dag_id": dag_id, "schedule": {"kind": "none"}, "tasks": []}
    async with api.store.begin() as conn:
        await dags.upsert_dag(conn, dag_id, tenant=tenant, now=NOW)
        version = await dags.register_version(conn, dag_id, spec, now=NOW)
        run = await runs.create_run(conn, dag_id=dag_id, run_id="r1", run_type="manual",
                                    dag_version_id=version.id, run_after=NOW, now=NOW)
        await task_instances.create_task_instances(
            conn, run, [NewTaskInstance(task_id=t, state=s, pool=pool, pool_slots=2)
                        for t, s in states.items()])
        await audit.record_event(conn, "trigger", username=None, dag_id=dag_id, run_id="r1",
                                 extra={"conf": {}}, occurred_at=NOW)


async def test_pools_crud_and_slot_counts(api: ApiHarness) -> None:
    op = await api.client_for("Op")
    created = await op.post("/api/v2/pools", json={"name": "db", "slots": 4,
                                                   "description": "database"})
    assert created.status_code == 201
    assert PoolResponse.from_dict(created.json()).open_slots == 4
    assert (await op.post("/api/v2/pools", json={"name": "db", "slots": 1})).status_code == 409
    await _dag_with_tasks(api, "etl", "default",
                          {"a": "running", "b": "queued", "c": "scheduled", "d": "success"},
                          pool="db")
    pool = PoolResponse.from_dict((await op.get("/api/v2/pools/db")).json())
    assert (pool.running_slots, pool.queued_slots, pool.scheduled_slots,
            pool.occupied_slots, pool.open_slots, pool.deferred_slots) == (2, 2, 2, 4, 0, 0)

    listing = PoolCollectionResponse.from_dict((await op.get("/api/v2/pools")).json())
    assert [p.name for p in listing.pools] == ["db", "default_pool"]
    assert listing.total_entries == 2
    assert [p["name"] for p in (await op.get("/api/v2/pools", params={
        "pool_name_pattern": "default"})).json()["pools"]] == ["default_pool"]

    patched = await op.patch("/api/v2/pools/db", json={"slots": 10})
    assert patched.status_code == 200
    assert (patched.json()["slots"], patched.json()["open_slots"],
            patched.json()["description"]) == (10, 6, "database")
    masked = await op.patch("/api/v2/pools/db", params={"update_mask": "description"},
                            json={"slots": 1, "description": "db pool"})
    assert (masked.json()["slots"], masked.json()["description"]) == (10, "db pool")
    assert (await op.patch("/api/v2/pools/db", json={"pool": "renamed"})).status_code == 400
    assert (await op.patch("/api/v2/pools/db", json={"include_deferred": True})
            ).status_code == 400
    assert (await op.post("/api/v2/pools", json={"name": "neg", "slots": -1})
            ).status_code == 422

    assert (await op.patch("/api/v2/pools/default_pool", json={"slots": 64})).json()[
        "slots"] == 64
    undeletable = await op.delete("/api/v2/pools/default_pool")
    assert undeletable.status_code == 400
    assert (await op.delete("/api/v2/pools/db")).status_code == 204
    assert (await op.get("/api/v2/pools/db")).status_code == 404
    assert (await op.delete("/api/v2/pools/db")).status_code == 404


async def test_event_log(api: ApiHarness) -> None:
    await _dag_with_tasks(api, "mine", "default", {"a": "success"})
    await _dag_with_tasks(api, "theirs", "other", {"a": "success"})
    op = await api.client_for("Op")
    await op.post("/api/v2/variables", json={"key": "k", "value": "secret-value"})
    answer = await op.get("/api/v2/eventLogs")
    parsed = EventLogCollectionResponse.from_dict(answer.json())
    assert [(e.event, e.dag_id, e.owner) for e in parsed.event_logs] == [
        ("trigger", "mine", None), ("post_user", None, "admin"),
        ("post_variable", None, "op.default")]
    assert parsed.total_entries == 3
    assert "secret-value" not in answer.text
    first = parsed.event_logs[0]
    assert first.run_id == "r1" and first.extra == '{"conf": {}}'
    assert first.when.tzinfo is not None

    one = await op.get(f"/api/v2/eventLogs/{first.event_log_id}")
    assert EventLogResponse.from_dict(one.json()).event == "trigger"
    filtered = await op.get("/api/v2/eventLogs", params={"event": "post_variable"})
    assert [e["event"] for e in filtered.json()["event_logs"]] == ["post_variable"]
    excluded = await op.get("/api/v2/eventLogs",
                            params={"excluded_events": ["trigger", "post_user"]})
    assert [e["event"] for e in excluded.json()["event_logs"]] == ["post_variable"]
    newest = await op.get("/api/v2/eventLogs", params={"order_by": "-id", "limit": 1})
    assert newest.json()["event_logs"][0]["event"] == "post_variable"
    assert newest.json()["total_entries"] == 3
    assert (await op.get("/api/v2/eventLogs", params={"dag_id": "theirs"})).json()[
        "total_entries"] == 0
    assert (await op.get("/api/v2/eventLogs/999999")).status_code == 404
    assert (await op.get("/api/v2/eventLogs", params={"before": "2026-01-01T00:00:00"})
            ).json()["total_entries"] == 0
