"""The auth part on PostgreSQL: the flows whose SQL differs between dialects (conflicts on
insert, case-insensitive patterns, the event log's tenant subqueries, revocations)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from leoflow.engine.store import Store
from tests.integration.api_auth.harness import ApiHarness, FakeClock, open_auth

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_api(postgres_url: str, tmp_path: Path) -> AsyncIterator[ApiHarness]:
    store = await Store.open(postgres_url, auto_migrate=True)
    clock = FakeClock()
    harness = ApiHarness(store=store, auth=await open_auth(store, tmp_path, clock),
                         clock=clock)
    try:
        yield harness
    finally:
        await harness.close()
        await store.close()


async def test_auth_flows_on_postgres(pg_api: ApiHarness) -> None:
    api = pg_api
    login = await api.client().post("/auth/token", json={"username": "admin",
                                                         "password": "bootstrap-password-1"})
    assert login.status_code == 201
    token = login.json()["access_token"]
    a = await api.client_for("Op", "tenant-a")
    b = await api.client_for("Op", "tenant-b")
    assert (await a.post("/api/v2/variables", json={"key": "Key", "value": "a"})
            ).status_code == 201
    assert (await a.post("/api/v2/variables", json={"key": "Key", "value": "a"})
            ).status_code == 409
    assert (await a.post("/api/v2/connections", json={
        "connection_id": "db", "conn_type": "postgres", "password": "pw"})).status_code == 201
    assert (await a.post("/api/v2/connections", json={
        "connection_id": "db", "conn_type": "postgres"})).status_code == 409
    assert (await b.get("/api/v2/variables/Key")).status_code == 404
    found = await a.get("/api/v2/variables", params={"variable_key_pattern": "ke"})
    assert found.json()["total_entries"] == 1
    assert (await a.patch("/api/v2/connections/db", json={
        "connection_id": "db", "conn_type": "postgres", "password": "***"})).status_code == 200
    env = await api.auth.secrets.environment("tenant-a")
    assert '"password": "pw"' in env["AIRFLOW_CONN_DB"]
    events = (await a.get("/api/v2/eventLogs")).json()
    assert [e["event"] for e in events["event_logs"]] == [
        "post_variable", "post_connection", "patch_connection"]
    assert (await b.get("/api/v2/eventLogs")).json()["total_entries"] == 0
    for path in ("/api/v2/variables/n%00ul", "/api/v2/connections/n%00ul",
                 "/api/leoflow/users/n%00ul", "/api/v2/pools/n%00ul"):
        assert (await (await api.client_for("Admin")).get(path)).status_code == 404, path
    assert (await api.client().post("/auth/token", json={
        "username": "n\x00ul", "password": "x"})).status_code == 401

    admin = api.client(token)
    made = await admin.post("/api/leoflow/users/op.tenant-a/tokens", json={})
    assert (await api.client(made.json()["token"]).get("/api/v2/variables")).json()[
        "total_entries"] == 1
    await admin.get("/api/v2/auth/logout")
    assert (await admin.get("/api/v2/pools")).status_code == 403
