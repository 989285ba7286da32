"""The official ``apache-airflow-client`` against the auth part over real HTTP: the login
its README prescribes (``requests.post(/auth/token)``, 201), then variables, connections,
pools and the event log through its generated APIs, and logout.

The API is served by uvicorn in a thread of the test process (127.0.0.1, a free port), over
a real SQLite store and the real ``AuthService``; no control plane is needed by these routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow_client import client as airflow

from leoflow.engine.api import ApiContext, create_api
from leoflow.engine.auth.config import AuthConfig
from leoflow.engine.auth.service import AuthService
from leoflow.engine.store import Store
from tests.integration.api_auth.harness import ADMIN_PASSWORD, cheap_passwords


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    import uvicorn

    url = f"sqlite+aiosqlite:///{(tmp_path / 'leoflow.db').as_posix()}"

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        store = await Store.open(url, auto_migrate=True)
        auth = await AuthService.open(
            store, AuthConfig(home=tmp_path, bootstrap_password=ADMIN_PASSWORD),
            passwords=cheap_passwords())
        app.state.context = ApiContext(store=store, operations=None,  # type: ignore[arg-type]
                                       auth=auth, xcom=None, logs=None, version="test",
                                       started_at=datetime.now(UTC))
        try:
            yield
        finally:
            await store.close()

    app = create_api(version="test", lifespan=lifespan)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def test_the_official_client_flow(server_url: str) -> None:
    # As the client's README says: POST /auth/token, raise unless 201.
    answer = requests.post(f"{server_url}/auth/token",
                           json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10)
    assert answer.status_code == 201, answer.text
    token = answer.json()["access_token"]
    config = airflow.Configuration(host=server_url, access_token=token)

    with airflow.ApiClient(config) as api_client:
        variables = airflow.VariableApi(api_client)
        created = variables.post_variable(airflow.VariableBody(key="greeting", value="hello",
                                                               description="a word"))
        assert (created.key, created.value, created.is_encrypted) == ("greeting", "hello",
                                                                     True)
        variables.patch_variable("greeting", airflow.VariableBody(key="greeting", value="hi"),
                                 update_mask=["value"])
        assert variables.get_variable("greeting").value == "hi"
        listing = variables.get_variables(limit=10, order_by=["key"])
        assert listing.total_entries == 1
        variables.delete_variable("greeting")
        with pytest.raises(airflow.exceptions.NotFoundException):
            variables.get_variable("greeting")

        connections = airflow.ConnectionApi(api_client)
        made = connections.post_connection(airflow.ConnectionBody(
            connection_id="db", conn_type="postgres", host="h", port=5432,
            password="pw", extra='{"token": "t"}'))
        assert (made.password, made.extra, made.port) == ("***", '{"token": "***"}', 5432)
        patched = connections.patch_connection("db", airflow.ConnectionBody(
            connection_id="db", conn_type="postgres", host="h2"), update_mask=["host"])
        assert (patched.host, patched.password) == ("h2", "***")
        assert connections.get_connections().total_entries == 1
        connections.delete_connection("db")

        pools = airflow.PoolApi(api_client)
        pool = pools.post_pool(airflow.PoolBody(name="db", slots=3))
        assert (pool.open_slots, pool.include_deferred) == (3, False)
        assert pools.patch_pool("db", airflow.PoolPatchBody(slots=5),
                                update_mask=["slots"]).slots == 5
        assert {p.name for p in pools.get_pools().pools} == {"db", "default_pool"}
        pools.delete_pool("db")
        with pytest.raises(airflow.exceptions.BadRequestException):
            pools.delete_pool("default_pool")

        events = airflow.EventLogApi(api_client).get_event_logs(limit=100)
        assert {"post_variable", "delete_variable", "post_connection", "post_pool"} <= {
            e.event for e in events.event_logs}
        one = airflow.EventLogApi(api_client).get_event_log(events.event_logs[0].event_log_id)
        assert one.event == events.event_logs[0].event

    # Logout revokes the token: the next call is refused with 403.
    bye = requests.get(f"{server_url}/api/v2/auth/logout",
                       headers={"Authorization": f"Bearer {token}"}, allow_redirects=False,
                       timeout=10)
    assert bye.status_code == 307
    with airflow.ApiClient(config) as api_client, pytest.raises(
            airflow.exceptions.ForbiddenException):
        airflow.VariableApi(api_client).get_variables()


def test_wrong_password_answers_as_airflow(server_url: str) -> None:
    answer = requests.post(f"{server_url}/auth/token",
                           data={"username": "admin", "password": "nope"}, timeout=10)
    assert (answer.status_code, answer.json()) == (401, {"detail": "Invalid credentials"})
    config = airflow.Configuration(host=server_url)
    with airflow.ApiClient(config) as api_client, pytest.raises(
            airflow.exceptions.UnauthorizedException):
        airflow.VariableApi(api_client).get_variables()
