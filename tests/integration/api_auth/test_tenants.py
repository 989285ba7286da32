"""Tenant isolation: a user of tenant B never sees nor touches tenant A's variables,
connections, users or events, whatever its role; the same names live apart."""

from __future__ import annotations

from tests.integration.api_auth.harness import ApiHarness


async def test_variables_and_connections_are_per_tenant(api: ApiHarness) -> None:
    a = await api.client_for("Op", "tenant-a")
    b = await api.client_for("Admin", "tenant-b")
    assert (await a.post("/api/v2/variables", json={"key": "db", "value": "a-value"})
            ).status_code == 201
    assert (await a.post("/api/v2/connections", json={
        "connection_id": "warehouse", "conn_type": "postgres", "host": "a.example",
        "password": "a-secret"})).status_code == 201

    listing = await b.get("/api/v2/variables")
    assert listing.json() == {"variables": [], "total_entries": 0}
    assert (await b.get("/api/v2/connections")).json() == {"connections": [],
                                                          "total_entries": 0}
    for method, path, body in [
        ("GET", "/api/v2/variables/db", None),
        ("PATCH", "/api/v2/variables/db", {"key": "db", "value": "stolen"}),
        ("DELETE", "/api/v2/variables/db", None),
        ("GET", "/api/v2/connections/warehouse", None),
        ("PATCH", "/api/v2/connections/warehouse",
         {"connection_id": "warehouse", "conn_type": "http", "host": "evil.example"}),
        ("DELETE", "/api/v2/connections/warehouse", None),
    ]:
        answer = await b.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)

    # The same names in tenant B are B's own objects.
    assert (await b.post("/api/v2/variables", json={"key": "db", "value": "b-value"})
            ).status_code == 201
    assert (await b.post("/api/v2/connections", json={
        "connection_id": "warehouse", "conn_type": "http", "host": "b.example"})
            ).status_code == 201
    assert (await a.get("/api/v2/variables/db")).json()["value"] == "a-value"
    assert (await b.get("/api/v2/variables/db")).json()["value"] == "b-value"
    assert (await a.get("/api/v2/connections/warehouse")).json()["host"] == "a.example"
    assert (await b.get("/api/v2/connections/warehouse")).json()["host"] == "b.example"

    # And the environment a task of each tenant gets holds only its tenant's secrets.
    env_a = await api.auth.secrets.environment("tenant-a")
    env_b = await api.auth.secrets.environment("tenant-b")
    assert env_a["AIRFLOW_VAR_DB"] == "a-value" and env_b["AIRFLOW_VAR_DB"] == "b-value"
    assert "a-secret" in env_a["AIRFLOW_CONN_WAREHOUSE"]
    assert "a-secret" not in str(env_b)


async def test_events_are_per_tenant(api: ApiHarness) -> None:
    a = await api.client_for("Op", "tenant-a")
    b = await api.client_for("Op", "tenant-b")
    await a.post("/api/v2/variables", json={"key": "only-a", "value": "1"})
    await b.post("/api/v2/variables", json={"key": "only-b", "value": "1"})
    seen_by_a = (await a.get("/api/v2/eventLogs")).json()
    seen_by_b = (await b.get("/api/v2/eventLogs")).json()
    assert [e["extra"] for e in seen_by_a["event_logs"]] == ['{"key": "only-a"}']
    assert [e["extra"] for e in seen_by_b["event_logs"]] == ['{"key": "only-b"}']
    other = seen_by_b["event_logs"][0]["event_log_id"]
    assert (await a.get(f"/api/v2/eventLogs/{other}")).status_code == 404


async def test_tenant_admins_manage_only_their_tenant(api: ApiHarness) -> None:
    b_admin = await api.client_for("Admin", "tenant-b")
    await api.user("alice", "Op", "tenant-a")
    listing = (await b_admin.get("/api/leoflow/users")).json()
    assert {u["tenant"] for u in listing["users"]} == {"tenant-b"}
    assert (await b_admin.get("/api/leoflow/users/alice")).status_code == 404
    assert (await b_admin.patch("/api/leoflow/users/alice",
                                json={"role": "Viewer"})).status_code == 404
    assert (await b_admin.delete("/api/leoflow/users/alice")).status_code == 404
    assert (await b_admin.post("/api/leoflow/users/alice/tokens", json={})).status_code == 404
    into_a = await b_admin.post("/api/leoflow/users", json={
        "username": "mole", "password": "long-enough", "role": "Admin", "tenant": "tenant-a"})
    assert into_a.status_code == 403
    own = await b_admin.post("/api/leoflow/users", json={
        "username": "bob", "password": "long-enough", "role": "Viewer"})
    assert own.status_code == 201 and own.json()["tenant"] == "tenant-b"
    assert (await b_admin.patch("/api/leoflow/users/bob",
                                json={"tenant": "tenant-a"})).status_code == 403

    # The operator (an admin of the default tenant) manages every tenant.
    operator = await api.client_for("Admin")
    everyone = (await operator.get("/api/leoflow/users")).json()
    assert {"alice", "bob"} <= {u["username"] for u in everyone["users"]}
    made = await operator.post("/api/leoflow/users", json={
        "username": "carla", "password": "long-enough", "role": "Admin", "tenant": "tenant-c"})
    assert made.status_code == 201 and made.json()["tenant"] == "tenant-c"
