"""Variables and connections: Airflow 3 shapes, encryption at rest, masking, and delivery to
tasks as AIRFLOW_VAR_* / AIRFLOW_CONN_* environment variables."""

from __future__ import annotations

import json

import pytest
from airflow_client.client.models import (
    ConnectionCollectionResponse,
    ConnectionResponse,
    VariableCollectionResponse,
    VariableResponse,
)
from sqlalchemy import select

from leoflow.engine.auth import SecretCipher, secrets_env
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.store import tables
from leoflow.sdk.secrets_env import Variable, get_connection
from tests.integration.api_auth.harness import ApiHarness

CONNECTION = {"connection_id": "warehouse", "conn_type": "postgres", "host": "db.example",
              "login": "etl", "schema": "analytics", "port": 5432,
              "password": "p@ss:w/rd?", "description": "the warehouse",
              "extra": json.dumps({"sslmode": "require", "api_key": "k-123",
                                   "nested": {"token": "t-456", "region": "eu"}})}


async def test_variable_crud_in_airflow_shapes(api: ApiHarness) -> None:
    op = await api.client_for("Op")
    created = await op.post("/api/v2/variables", json={"key": "greeting", "value": "hello",
                                                       "description": "a word"})
    assert created.status_code == 201
    assert VariableResponse.from_dict(created.json()).is_encrypted is True
    assert created.json()["value"] == "hello"
    assert (await op.post("/api/v2/variables", json={"key": "greeting", "value": "x"})
            ).status_code == 409
    as_json = await op.post("/api/v2/variables", json={"key": "cfg", "value": {"a": [1, 2]}})
    assert as_json.json()["value"] == '{"a": [1, 2]}'
    await op.post("/api/v2/variables", json={"key": "nothing", "value": None})

    listing = await op.get("/api/v2/variables", params={"limit": 2})
    parsed = VariableCollectionResponse.from_dict(listing.json())
    assert parsed.total_entries == 3
    assert [v.key for v in parsed.variables] == ["cfg", "greeting"]
    page2 = await op.get("/api/v2/variables", params={"limit": 2, "offset": 2})
    assert [v["key"] for v in page2.json()["variables"]] == ["nothing"]
    desc = await op.get("/api/v2/variables", params={"order_by": "-key"})
    assert [v["key"] for v in desc.json()["variables"]] == ["nothing", "greeting", "cfg"]
    pattern = await op.get("/api/v2/variables", params={"variable_key_pattern": "EET"})
    assert [v["key"] for v in pattern.json()["variables"]] == ["greeting"]
    assert (await op.get("/api/v2/variables", params={"order_by": "nope"})).status_code == 400

    patched = await op.patch("/api/v2/variables/greeting", json={"key": "greeting",
                                                                 "value": "bonjour"})
    assert patched.status_code == 200
    assert patched.json() == {"key": "greeting", "value": "bonjour",
                              "description": "a word", "is_encrypted": True,
                              "team_name": None}
    masked = await op.patch("/api/v2/variables/greeting", params={"update_mask": "description"},
                            json={"key": "greeting", "value": "ignored", "description": "new"})
    assert masked.json()["value"] == "bonjour" and masked.json()["description"] == "new"
    assert (await op.patch("/api/v2/variables/greeting",
                           json={"key": "other", "value": "x"})).status_code == 400
    assert (await op.patch("/api/v2/variables/greeting", params={"update_mask": "key"},
                           json={"key": "greeting", "value": "x"})).status_code == 400
    assert (await op.delete("/api/v2/variables/greeting")).status_code == 204
    missing = await op.get("/api/v2/variables/greeting")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "The Variable with key: `greeting` was not found"}
    assert (await op.delete("/api/v2/variables/greeting")).status_code == 404


async def test_variable_keys_may_hold_slashes_and_bodies_are_strict(api: ApiHarness) -> None:
    op = await api.client_for("Op")
    assert (await op.post("/api/v2/variables", json={"key": "a/b", "value": "1"})
            ).status_code == 201
    assert (await op.get("/api/v2/variables/a/b")).json()["value"] == "1"
    assert (await op.post("/api/v2/variables", json={"key": "x", "value": "1", "bogus": 1})
            ).status_code == 422
    assert (await op.post("/api/v2/variables", json={"key": "x"})).status_code == 422
    assert (await op.post("/api/v2/variables", json={"key": "x" * 251, "value": "1"})
            ).status_code == 422
    assert (await op.post("/api/v2/variables", json={"key": "n\x00ul", "value": "1"})
            ).status_code == 400


async def test_sensitive_variables_are_masked_and_kept_on_round_trip(
        api: ApiHarness) -> None:
    op = await api.client_for("Op")
    await op.post("/api/v2/variables", json={"key": "api_password", "value": "s3cret"})
    await op.post("/api/v2/variables", json={"key": "settings", "value": {
        "region": "eu", "secret": "hidden"}})
    assert (await op.get("/api/v2/variables/api_password")).json()["value"] == "***"
    settings = (await op.get("/api/v2/variables/settings")).json()["value"]
    assert json.loads(settings) == {"region": "eu", "secret": "***"}
    # Sending back what was read keeps the secrets; edits elsewhere keep them too.
    await op.patch("/api/v2/variables/api_password",
                   json={"key": "api_password", "value": "***"})
    await op.patch("/api/v2/variables/settings", json={
        "key": "settings", "value": json.dumps({"region": "us", "secret": "***"})})
    env = await api.auth.secrets.environment("default")
    assert env["AIRFLOW_VAR_API_PASSWORD"] == "s3cret"
    assert json.loads(env["AIRFLOW_VAR_SETTINGS"]) == {"region": "us", "secret": "hidden"}


async def test_connection_crud_masks_secrets(api: ApiHarness) -> None:
    op = await api.client_for("Op")
    created = await op.post("/api/v2/connections", json=CONNECTION)
    assert created.status_code == 201
    body = created.json()
    ConnectionResponse.from_dict(body)
    assert body["password"] == "***"
    assert json.loads(body["extra"]) == {"sslmode": "require", "api_key": "***",
                                         "nested": {"token": "***", "region": "eu"}}
    assert (body["host"], body["login"], body["schema"], body["port"]) == (
        "db.example", "etl", "analytics", 5432)
    assert (await op.post("/api/v2/connections", json=CONNECTION)).status_code == 409

    listing = await op.get("/api/v2/connections")
    parsed = ConnectionCollectionResponse.from_dict(listing.json())
    assert parsed.total_entries == 1 and parsed.connections[0].password == "***"
    assert "p@ss" not in listing.text and "k-123" not in listing.text
    assert "t-456" not in listing.text

    # A masked round trip (what a UI does) keeps the password and the masked extras.
    same = {**body, "host": "db2.example"}
    same.pop("team_name")
    assert (await op.patch("/api/v2/connections/warehouse", json=same)).status_code == 200
    conn = get_connection("warehouse", await api.auth.secrets.environment("default"))
    assert (conn.host, conn.password, conn.port) == ("db2.example", "p@ss:w/rd?", 5432)
    assert conn.extra_dejson == {"sslmode": "require", "api_key": "k-123",
                                 "nested": {"token": "t-456", "region": "eu"}}

    # A new password replaces it; update_mask limits what changes.
    await op.patch("/api/v2/connections/warehouse", params={"update_mask": ["password"]},
                   json={"connection_id": "warehouse", "conn_type": "ignored",
                         "password": "new-one"})
    conn = get_connection("warehouse", await api.auth.secrets.environment("default"))
    assert (conn.conn_type, conn.password) == ("postgres", "new-one")
    assert (await op.delete("/api/v2/connections/warehouse")).status_code == 204
    assert (await op.get("/api/v2/connections/warehouse")).status_code == 404


@pytest.mark.parametrize("body", [
    {"connection_id": "bad id", "conn_type": "http"},
    {"connection_id": "x", "conn_type": "http", "extra": "not json"},
    {"connection_id": "x", "conn_type": "http", "extra": "[1]"},
    {"connection_id": "x", "conn_type": "http", "port": 70000},
    {"connection_id": "x"},
    {"connection_id": "x", "conn_type": "http", "bogus": True},
])
async def test_bad_connection_bodies_are_422(api: ApiHarness, body: dict) -> None:
    op = await api.client_for("Op")
    assert (await op.post("/api/v2/connections", json=body)).status_code == 422


async def test_secrets_are_encrypted_at_rest(api: ApiHarness) -> None:
    op = await api.client_for("Op")
    await op.post("/api/v2/connections", json=CONNECTION)
    await op.post("/api/v2/variables", json={"key": "plain", "value": "visible-value"})
    async with api.store.connect() as conn:
        row = (await conn.execute(select(tables.connection))).one()._mapping
        var = (await conn.execute(select(tables.variable))).one()._mapping
    raw = json.dumps({k: str(v) for k, v in row.items()})
    for secret in ("p@ss:w/rd?", "k-123", "t-456", "sslmode"):
        assert secret not in raw
    assert row["host"] == "db.example"  # not a secret, stays readable (as in Airflow)
    assert row["password"].startswith("gAAAA")  # a Fernet token
    assert "visible-value" not in str(var["value"]) and var["is_encrypted"] is True
    # The key in LEOFLOW_HOME decrypts it; another key does not.
    assert api.auth.cipher.decrypt(row["password"]) == "p@ss:w/rd?"
    with pytest.raises(Exception, match="cannot decrypt"):
        SecretCipher.generate().decrypt(row["password"])


async def test_secrets_env_for_a_task(api: ApiHarness) -> None:
    who = Principal("op", "Op", "team")
    await api.user("op", "Op", "team")
    await api.auth.secrets.create_variable(who, "Bucket_Name", "s3://b")
    await api.auth.secrets.create_variable(who, "limits", {"rows": 10})
    await api.auth.secrets.create_connection(who, "my_db", {
        "conn_type": "postgres", "host": "h", "login": "u", "password": "p w/:@",
        "port": 5432, "schema": "s", "extra": '{"sslmode": "require"}'})
    await api.auth.secrets.create_connection(who, "bare", {"conn_type": "http"})
    env = await secrets_env(api.store, "team", api.auth.cipher)
    assert set(env) == {"AIRFLOW_VAR_BUCKET_NAME", "AIRFLOW_VAR_LIMITS",
                        "AIRFLOW_CONN_MY_DB", "AIRFLOW_CONN_BARE"}
    # Read back the way a task reads them (leoflow.sdk, as Airflow's env secrets backend).
    assert Variable.get("bucket_name", environ=env) == "s3://b"
    assert Variable.get("limits", deserialize_json=True, environ=env) == {"rows": 10}
    conn = get_connection("my_db", env)
    assert (conn.conn_type, conn.host, conn.login, conn.password, conn.port, conn.schema) == (
        "postgres", "h", "u", "p w/:@", 5432, "s")
    assert conn.extra_dejson == {"sslmode": "require"}
    assert get_connection("bare", env).conn_type == "http"
    assert await secrets_env(api.store, "nobody", api.auth.cipher) == {}
