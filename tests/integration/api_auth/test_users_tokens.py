"""User administration, the bootstrap admin, and API tokens for CI (API route and the
``leoflow auth create-token`` command)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from leoflow.app.cli import main as leoflow
from leoflow.engine.store import users
from tests.integration.api_auth.harness import (
    ADMIN_PASSWORD,
    ApiHarness,
    FakeClock,
    open_auth,
)


async def test_bootstrap_admin_is_created_once(api: ApiHarness, caplog) -> None:
    async with api.store.connect() as conn:
        admin = await users.get_user(conn, "admin")
    assert admin is not None and (admin.role, admin.tenant) == ("Admin", "default")
    assert admin.password_hash.startswith("$argon2id$")
    assert ADMIN_PASSWORD not in admin.password_hash
    # A second start (another replica, a restart) with another password changes nothing.
    assert await api.auth.bootstrap_admin("another-password") is False
    answer = await api.client().post("/auth/token", json={"username": "admin",
                                                           "password": ADMIN_PASSWORD})
    assert answer.status_code == 201


async def test_no_bootstrap_password_logs_a_warning(store, tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="leoflow.auth"):
        await open_auth(store, tmp_path, FakeClock(), bootstrap_password=None)
    assert "LEOFLOW_BOOTSTRAP_PASSWORD is not set: no admin was created" in caplog.text
    async with store.connect() as conn:
        assert await users.count_users(conn) == 0


async def test_user_administration(api: ApiHarness) -> None:
    admin = await api.client_for("Admin")
    created = await admin.post("/api/leoflow/users", json={
        "username": "erin", "password": "erin-password", "role": "User"})
    assert created.status_code == 201
    assert created.json()["role"] == "User" and created.json()["tenant"] == "default"
    assert "password" not in created.text
    assert (await admin.post("/api/leoflow/users", json={
        "username": "erin", "password": "erin-password", "role": "User"})).status_code == 409
    for bad in ({"username": "x", "password": "short", "role": "User"},
                {"username": "x", "password": "long-enough", "role": "Boss"},
                {"username": "bad name", "password": "long-enough", "role": "User"},
                {"username": "x", "password": "long-enough", "role": "User",
                 "tenant": "bad tenant"}):
        assert (await admin.post("/api/leoflow/users", json=bad)).status_code == 400, bad

    login = await api.client().post("/auth/token", json={"username": "erin",
                                                         "password": "erin-password"})
    assert login.status_code == 201
    patched = await admin.patch("/api/leoflow/users/erin",
                                json={"role": "Op", "password": "new-password"})
    assert patched.status_code == 200 and patched.json()["role"] == "Op"
    assert (await api.client().post("/auth/token", json={
        "username": "erin", "password": "erin-password"})).status_code == 401
    assert (await api.client().post("/auth/token", json={
        "username": "erin", "password": "new-password"})).status_code == 201

    listing = (await admin.get("/api/leoflow/users")).json()
    assert "erin" in [u["username"] for u in listing["users"]]
    assert listing["total_entries"] == len(listing["users"])
    assert (await admin.delete("/api/leoflow/users/erin")).status_code == 204
    assert (await admin.get("/api/leoflow/users/erin")).status_code == 404


async def test_the_last_operator_cannot_be_removed(api: ApiHarness) -> None:
    admin = api.client((await api.client().post("/auth/token", json={
        "username": "admin", "password": ADMIN_PASSWORD})).json()["access_token"])
    assert (await admin.delete("/api/leoflow/users/admin")).status_code == 409
    assert (await admin.patch("/api/leoflow/users/admin",
                              json={"role": "Viewer"})).status_code == 409
    assert (await admin.patch("/api/leoflow/users/admin",
                              json={"tenant": "elsewhere"})).status_code == 409
    await admin.post("/api/leoflow/users", json={"username": "second", "role": "Admin",
                                                 "password": "second-password"})
    assert (await admin.patch("/api/leoflow/users/admin",
                              json={"role": "Viewer"})).status_code == 200


async def test_api_tokens_through_the_api(api: ApiHarness) -> None:
    admin = await api.client_for("Admin")
    await api.user("ci", "Op", "team")
    made = await admin.post("/api/leoflow/users/ci/tokens",
                            json={"expires_in_days": 30, "description": "github actions"})
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("lfat_") and len(token) > 40
    ci = api.client(token)
    assert (await ci.post("/api/v2/variables", json={"key": "k", "value": "v"})
            ).status_code == 201
    assert (await api.auth.principal(token)).tenant == "team"
    assert (await ci.get("/api/leoflow/users")).status_code == 403  # Op, not Admin

    listed = (await admin.get("/api/leoflow/users/ci/tokens")).json()
    assert [t["description"] for t in listed["tokens"]] == ["github actions"]
    assert token not in json.dumps(listed)
    async with api.store.connect() as conn:
        stored = await users.list_api_tokens(conn, "ci")
    assert token not in repr(stored)

    api.clock.advance(31 * 86400)
    expired = await ci.get("/api/v2/variables")
    assert expired.status_code == 401 and expired.json() == {"detail": "Token Expired"}

    admin = await api.client_for("Admin")  # the first admin token expired too
    forever = (await admin.post("/api/leoflow/users/ci/tokens")).json()
    ci2 = api.client(forever["token"])
    assert (await ci2.get("/api/v2/variables")).status_code == 200
    assert (await admin.delete(f"/api/leoflow/users/ci/tokens/{forever['token_id']}")
            ).status_code == 204
    assert (await ci2.get("/api/v2/variables")).status_code == 403
    assert (await admin.delete("/api/leoflow/users/ci/tokens/not-a-uuid")).status_code == 404
    assert (await admin.post("/api/leoflow/users/ci/tokens",
                             json={"expires_in_days": 0})).status_code == 422


async def test_deleting_a_user_kills_its_api_tokens(api: ApiHarness) -> None:
    await api.user("robot", "Viewer")
    admin = await api.client_for("Admin")
    token = (await admin.post("/api/leoflow/users/robot/tokens")).json()["token"]
    assert (await api.client(token).get("/api/v2/pools")).status_code == 200
    await admin.delete("/api/leoflow/users/robot")
    assert (await api.client(token).get("/api/v2/pools")).status_code == 403


async def test_cli_create_token(api: ApiHarness, tmp_path: Path, capsys,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEOFLOW_HOME", str(tmp_path / "cli-home"))
    await api.user("deployer", "Op", "team")
    url = str(api.store.engine.url)
    # The CLI runs its own event loop: call it from a thread, as a shell would.
    import asyncio

    code = await asyncio.to_thread(leoflow, ["auth", "create-token", "--username", "deployer",
                                             "--expires-in", "7", "--database-url", url,
                                             "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["username"] == "deployer" and printed["expires_at"]
    answer = await api.client(printed["token"]).get("/api/v2/variables")
    assert answer.status_code == 200

    code = await asyncio.to_thread(leoflow, ["auth", "create-token", "--username", "ghost",
                                             "--database-url", url])
    assert code == 1
    assert "The user `ghost` was not found" in capsys.readouterr().err
