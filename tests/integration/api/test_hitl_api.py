"""``/api/v2/.../hitlDetails`` with the official client 3.3.2: a real HITL task (the e2e
project's ``hitl_reject``, run by the real scheduler and agents) waits, is listed and read
through ``TaskInstanceApi``, is answered with ``update_hitl_detail``, and the run finishes.
Tenants, roles, bad answers and a second answer are refused with Airflow's statuses.

The API is served by uvicorn on 127.0.0.1 inside the test's event loop (the control plane
lives there); the synchronous client runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from leoflow.engine.api.app import create_api
from leoflow.engine.api.context import ApiContext
from leoflow.engine.compiler.compile import compile_project, load_project_config
from tests.integration.real_auth import api_token

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]
PROJECT = Path(__file__).resolve().parents[2] / "e2e" / "projects" / "hitl"
DAG = "hitl_reject"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def served(api) -> AsyncIterator[str]:
    port = free_port()
    plane = api.plane
    context = ApiContext.of(plane.services, auth=api.auth, version="test",
                            started_at=datetime.now(UTC))
    server = uvicorn.Server(uvicorn.Config(create_api(context), host="127.0.0.1", port=port,
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def waiting_run(api) -> str:
    config = load_project_config(PROJECT)
    env = await api.plane.environments.ensure(config.dag_id, config.python_version,
                                              config.dependencies)
    compiled = await asyncio.to_thread(compile_project, PROJECT, python=str(env.python))
    await api.plane.operations.register_dag(
        compiled.document(DAG), source_code=compiled.source, fileloc=str(compiled.dag_file),
        paused_on_create=False)
    run = await api.plane.operations.trigger_run(DAG)
    for _ in range(600):
        listed = await api.get(f"/api/v2/dags/{DAG}/dagRuns/{run.run_id}/hitlDetails")
        if listed.json().get("total_entries"):
            return run.run_id
        await asyncio.sleep(0.1)
    raise AssertionError("the HITL task never started waiting")


async def test_official_client_lists_reads_and_answers(api) -> None:
    from airflow_client.client import ApiClient, Configuration
    from airflow_client.client.api.task_instance_api import TaskInstanceApi
    from airflow_client.client.models.update_hitl_detail_payload import UpdateHITLDetailPayload

    run_id = await waiting_run(api)
    one = f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/gate/-1/hitlDetails"
    # a task waiting for a person is awaiting_input (Airflow 3.3), shown as deferred to the
    # official client before 3.3, which refuses that state (as Airflow 3.1 and 3.2 show it)
    path = f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/gate"
    assert (await api.get(path)).json()["state"] == "awaiting_input"
    old = await api.get(path, headers={"User-Agent": "OpenAPI-Generator/3.0.2/python"})
    assert old.json()["state"] == "deferred"
    new = await api.get(path, headers={"User-Agent": "OpenAPI-Generator/3.3.2/python"})
    assert new.json()["state"] == "awaiting_input"
    # another tenant sees nothing and cannot answer; a viewer cannot answer
    other = await api.get("/api/v2/dags/~/dagRuns/~/hitlDetails", "other-tenant-token")
    assert other.json() == {"hitl_details": [], "total_entries": 0}
    refused = await api.patch(one, "other-tenant-token", json={"chosen_options": ["Approve"]})
    assert refused.status_code == 404, refused.text
    viewer = await api.patch(one, "viewer-token", json={"chosen_options": ["Approve"]})
    assert viewer.status_code == 403
    bad = await api.patch(one, json={"chosen_options": ["Maybe"]})
    assert bad.status_code == 400 and "Maybe" in bad.json()["detail"]
    empty = await api.patch(one, json={"chosen_options": []})
    assert empty.status_code == 422

    async with served(api) as host:
        def client_calls():
            config = Configuration(host=host, access_token=api_token("admin-token"))
            with ApiClient(config) as client:
                tis = TaskInstanceApi(client)
                listed = tis.get_hitl_details("~", "~", state=["deferred"])
                detail = tis.get_hitl_detail(DAG, run_id, "gate", -1)
                answered = tis.update_hitl_detail(
                    DAG, run_id, "gate", -1, UpdateHITLDetailPayload(chosen_options=["Reject"]))
                return listed, detail, answered

        listed, detail, answered = await asyncio.to_thread(client_calls)
    assert listed.total_entries == 1 and listed.hitl_details[0].task_instance.task_id == "gate"
    assert detail.subject == "Ship it?" and detail.options == ["Approve", "Reject"]
    assert detail.response_received is False and detail.task_instance.dag_id == DAG
    assert detail.task_instance.state == "awaiting_input"  # client 3.3.2 knows the state
    assert answered.chosen_options == ["Reject"] and answered.responded_by.name == "admin"

    again = await api.patch(one, json={"chosen_options": ["Approve"]})
    assert again.status_code == 409
    body = await api.wait_run(DAG, run_id)
    assert body["state"] == "success"
    states = {t["task_id"]: t["state"] for t in (await api.get(
        f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances")).json()["task_instances"]}
    assert states == {"gate": "success", "ship": "skipped", "after_ship": "skipped"}
    after = (await api.get(one)).json()
    assert after["response_received"] is True
    assert after["responded_by_user"] == {"id": "admin", "name": "admin"}
    xcom = (await api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/gate/"
                          "xcomEntries/return_value")).json()
    assert xcom["value"]["chosen_options"] == ["Reject"]
