"""Every role against every write route of the auth part (Viewer reads; Op manages
variables, connections and pools; Admin manages users), with the reusable matrix helper."""

from __future__ import annotations

import contextlib
import itertools

import pytest

from leoflow.engine.auth.errors import AlreadyExistsError
from leoflow.engine.auth.permissions import Principal
from tests.integration.api_auth.harness import ApiHarness, assert_role_matrix

EVERYONE = {"Viewer", "User", "Op", "Admin"}
RESOURCE_MANAGERS = {"Op", "Admin"}
ADMINS = {"Admin"}
_counter = itertools.count()


def fresh(prefix: str):
    return lambda role: f"{prefix}-{role.lower()}-{next(_counter)}"


@pytest.fixture
async def seeded(api: ApiHarness) -> ApiHarness:
    op = Principal("op.default", "Op", "default")
    await api.user("op.default", "Op")
    await api.auth.secrets.create_variable(op, "shared", "v")
    await api.auth.secrets.create_connection(op, "shared", {"conn_type": "http"})
    return api


@pytest.mark.parametrize("path", ["/api/v2/variables", "/api/v2/variables/shared",
                                  "/api/v2/connections", "/api/v2/connections/shared",
                                  "/api/v2/pools", "/api/v2/pools/default_pool",
                                  "/api/v2/eventLogs"])
async def test_every_role_reads(seeded: ApiHarness, path: str) -> None:
    answers = await assert_role_matrix(seeded.client_for, "GET", path, EVERYONE)
    assert {a.status_code for a in answers.values()} == {200}


async def test_variable_writes(seeded: ApiHarness) -> None:
    api = seeded
    names = fresh("var")
    created = await assert_role_matrix(
        api.client_for, "POST", "/api/v2/variables", RESOURCE_MANAGERS,
        body=lambda role: {"key": names(role), "value": "x"})
    assert {created[r].status_code for r in RESOURCE_MANAGERS} == {201}

    async def recreate() -> None:
        op = Principal("op.default", "Op", "default")
        with contextlib.suppress(AlreadyExistsError):
            await api.auth.secrets.create_variable(op, "target", "v")

    patched = await assert_role_matrix(
        api.client_for, "PATCH", "/api/v2/variables/target", RESOURCE_MANAGERS,
        body={"key": "target", "value": "changed"}, setup=recreate)
    assert {patched[r].status_code for r in RESOURCE_MANAGERS} == {200}
    deleted = await assert_role_matrix(api.client_for, "DELETE", "/api/v2/variables/target",
                                       RESOURCE_MANAGERS, setup=recreate)
    assert {deleted[r].status_code for r in RESOURCE_MANAGERS} == {204}


async def test_connection_writes(seeded: ApiHarness) -> None:
    api = seeded
    names = fresh("conn")
    created = await assert_role_matrix(
        api.client_for, "POST", "/api/v2/connections", RESOURCE_MANAGERS,
        body=lambda role: {"connection_id": names(role), "conn_type": "http"})
    assert {created[r].status_code for r in RESOURCE_MANAGERS} == {201}

    async def recreate() -> None:
        op = Principal("op.default", "Op", "default")
        with contextlib.suppress(AlreadyExistsError):
            await api.auth.secrets.create_connection(op, "target", {"conn_type": "http"})

    patched = await assert_role_matrix(
        api.client_for, "PATCH", "/api/v2/connections/target", RESOURCE_MANAGERS,
        body={"connection_id": "target", "conn_type": "postgres"}, setup=recreate)
    assert {patched[r].status_code for r in RESOURCE_MANAGERS} == {200}
    deleted = await assert_role_matrix(api.client_for, "DELETE",
                                       "/api/v2/connections/target", RESOURCE_MANAGERS,
                                       setup=recreate)
    assert {deleted[r].status_code for r in RESOURCE_MANAGERS} == {204}


async def test_pool_writes(seeded: ApiHarness) -> None:
    api = seeded
    names = fresh("pool")
    created = await assert_role_matrix(
        api.client_for, "POST", "/api/v2/pools", RESOURCE_MANAGERS,
        body=lambda role: {"name": names(role), "slots": 2})
    assert {created[r].status_code for r in RESOURCE_MANAGERS} == {201}

    async def recreate() -> None:
        admin = await api.client_for("Admin")
        await admin.post("/api/v2/pools", json={"name": "target", "slots": 1})

    patched = await assert_role_matrix(api.client_for, "PATCH", "/api/v2/pools/target",
                                       RESOURCE_MANAGERS, body={"slots": 3}, setup=recreate)
    assert {patched[r].status_code for r in RESOURCE_MANAGERS} == {200}
    deleted = await assert_role_matrix(api.client_for, "DELETE", "/api/v2/pools/target",
                                       RESOURCE_MANAGERS, setup=recreate)
    assert {deleted[r].status_code for r in RESOURCE_MANAGERS} == {204}


async def test_user_routes_are_admin_only(seeded: ApiHarness) -> None:
    api = seeded
    names = fresh("user")
    await assert_role_matrix(api.client_for, "GET", "/api/leoflow/users", ADMINS)
    created = await assert_role_matrix(
        api.client_for, "POST", "/api/leoflow/users", ADMINS,
        body=lambda role: {"username": names(role), "password": "long-enough",
                           "role": "Viewer"})
    assert created["Admin"].status_code == 201
    target = created["Admin"].json()["username"]
    await assert_role_matrix(api.client_for, "GET", f"/api/leoflow/users/{target}", ADMINS)
    await assert_role_matrix(api.client_for, "PATCH", f"/api/leoflow/users/{target}", ADMINS,
                             body={"role": "User"})
    tokens = await assert_role_matrix(api.client_for, "POST",
                                      f"/api/leoflow/users/{target}/tokens", ADMINS, body={})
    token_id = tokens["Admin"].json()["token_id"]
    await assert_role_matrix(api.client_for, "GET", f"/api/leoflow/users/{target}/tokens",
                             ADMINS)
    await assert_role_matrix(api.client_for, "DELETE",
                             f"/api/leoflow/users/{target}/tokens/{token_id}", ADMINS)
    deleted = await assert_role_matrix(api.client_for, "DELETE",
                                       f"/api/leoflow/users/{target}", ADMINS)
    assert deleted["Admin"].status_code == 204


async def test_anonymous_callers_get_401_everywhere(seeded: ApiHarness) -> None:
    anonymous = seeded.client()
    for method, path in [("GET", "/api/v2/variables"), ("POST", "/api/v2/variables"),
                         ("PATCH", "/api/v2/variables/shared"),
                         ("DELETE", "/api/v2/variables/shared"),
                         ("GET", "/api/v2/connections"), ("POST", "/api/v2/connections"),
                         ("DELETE", "/api/v2/connections/shared"),
                         ("GET", "/api/v2/pools"), ("POST", "/api/v2/pools"),
                         ("GET", "/api/v2/eventLogs"), ("GET", "/api/leoflow/users"),
                         ("POST", "/api/leoflow/users")]:
        answer = await anonymous.request(method, path, json={})
        assert answer.status_code == 401, (method, path, answer.text)
