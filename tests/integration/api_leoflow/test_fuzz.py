"""Schemathesis generates requests for the Leoflow routes and /metrics from the app's own
OpenAPI: none may be answered with a 5xx, on SQLite and on PostgreSQL (which refuses inputs
SQLite takes). Over real HTTP (uvicorn in a thread); bounded, derandomized examples."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from leoflow.app.controlplane import start_control_plane  # noqa: E402
from leoflow.app.settings import Settings  # noqa: E402
from leoflow.engine.api import ApiContext, create_api  # noqa: E402
from leoflow.engine.api.metrics import install_request_middleware  # noqa: E402
from tests.integration.api_leoflow.conftest import TokenTable, _hello  # noqa: E402

pytestmark = pytest.mark.slow
MAX_EXAMPLES = int(os.environ.get("LEOFLOW_FUZZ_EXAMPLES", "25"))


def serve(home: Path, database_url: str) -> Iterator[str]:
    import uvicorn

    hello = _hello()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        plane = await start_control_plane(Settings(home=home, database_url=database_url),
                                          parallelism=4)
        app.state.context = ApiContext(
            store=plane.store, operations=plane.operations, auth=TokenTable(),
            xcom=plane.xcom, logs=plane.logs, version="fuzz", started_at=datetime.now(UTC))
        await plane.operations.register_dag(hello.document("hello"), source_code=hello.source)
        try:
            yield
        finally:
            await plane.stop()

    app = create_api(version="fuzz", lifespan=lifespan)
    install_request_middleware(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    yield from serve(tmp_path / "home", url)


def test_no_input_produces_a_server_error(live_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json").include(
        path_regex=r"^/(api/leoflow/dags|metrics)")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/api/leoflow/dags", "/api/leoflow/dags/{dag_id}/versions",
        "/api/leoflow/dags/{dag_id}/versions/{version_number}", "/metrics"}
    failures: list[str] = []
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in itertools.product(operations, modes):

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
                  database=None, suppress_health_check=list(HealthCheck))
        def probe(case: Any) -> None:
            response = case.call(base_url=live_url, timeout=30,
                                 headers={"Authorization": "Bearer admin-token"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} "
                                f"{str(case.body)[:200]} -> {response.status_code}: "
                                f"{response.text[:200]}")

        with contextlib.suppress(Unsatisfiable):
            probe()
    assert not failures, "\n".join(failures)
