"""The API shows deferred task instances and what they wait for (Airflow's ``trigger``
object), pools count deferred slots, and /monitor/health reports the triggerer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from leoflow.engine.spec.canonical import with_content_hash

pytestmark = pytest.mark.asyncio(loop_scope="module")
DAG = "api_deferred"


def _document() -> dict:
    return with_content_hash({
        "schema_version": 1, "dag_id": DAG, "schedule": {"kind": "none"},
        "tasks": [{"task_id": "wait", "operator": "sensor", "upstream": [],
                   "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}},
                   "sensor": {"mode": "poke", "poke_interval": 60.0, "timeout": 7200.0,
                              "soft_fail": False, "exponential_backoff": False,
                              "max_wait": None,
                              "trigger": {"kind": "time",
                                          "kwargs": {"delta": 3600, "from": "now"}}}}]})


async def _deferred_run(api) -> str:
    await api.plane.operations.register_dag(_document(), source_code="# generated\n",
                                            fileloc=f"/dags/{DAG}/dag.py",
                                            paused_on_create=False)
    run = await api.plane.operations.trigger_run(DAG)
    await api.plane.scheduler.idle()
    return run.run_id


async def test_a_deferred_task_instance_shows_its_trigger(api):
    run_id = await _deferred_run(api)
    before = datetime.now(UTC)
    response = await api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/wait")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "deferred" and body["try_number"] == 1
    trigger = body["trigger"]
    assert trigger["classpath"] == "time" and isinstance(trigger["id"], int)
    assert json.loads(trigger["kwargs"]) == {"delta": 3600, "from": "now"}
    due = datetime.fromisoformat(trigger["waiting_for"].removeprefix("time "))
    assert before + timedelta(seconds=3590) < due < before + timedelta(seconds=3610)
    until = datetime.fromisoformat(trigger["timeout_at"])
    assert until - due > timedelta(seconds=3500), "the sensor timeout is 2 h, the wait 1 h"

    # The official client reads it (unknown Leoflow fields are ignored).
    from airflow_client.client.models.task_instance_response import TaskInstanceResponse

    parsed = TaskInstanceResponse.from_dict(body)
    assert parsed.state.value == "deferred" and parsed.trigger.classpath == "time"

    listing = await api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances",
                            params={"state": "deferred"})
    assert [t["task_id"] for t in listing.json()["task_instances"]] == ["wait"]
    assert listing.json()["task_instances"][0]["trigger"]["id"] == trigger["id"]

    pool = (await api.get("/api/v2/pools/default_pool")).json()
    assert pool["deferred_slots"] >= 1 and pool["occupied_slots"] == 0

    health = (await api.get("/api/v2/monitor/health")).json()
    assert health["triggerer"]["status"] == "healthy"
    assert health["triggerer"]["latest_triggerer_heartbeat"]

    # Marked by hand: no longer deferred, and no trigger shown.
    marked = await api.patch(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/wait",
                             json={"new_state": "success"})
    assert marked.status_code == 200, marked.text
    await api.plane.scheduler.idle()
    after = (await api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/wait")).json()
    assert after["state"] == "success" and after["trigger"] is None
    assert len(api.plane.scheduler.triggers) == 0
