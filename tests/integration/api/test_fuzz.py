"""Schemathesis generates requests from the app's own OpenAPI for every Airflow route built
here and checks that none is answered with a 5xx.

The API runs over real HTTP (uvicorn in a thread, its control plane started by its lifespan
in that thread's event loop) with the TEST DOUBLE authenticator of conftest.py. Examples are
bounded and derandomized, so a run is repeatable; marked ``slow``.
"""

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
from leoflow.engine.spec.canonical import with_content_hash  # noqa: E402
from tests.integration.api.conftest import (  # noqa: E402
    TokenAuthenticator,
    scratch_postgres,
)

pytestmark = pytest.mark.slow

# The route modules of the Airflow face built here (others have their own tests).
TAGS = ["DAG", "DagRun", "Task Instance", "XCom", "DagSource", "Import Error", "Monitor",
        "Version", "Asset", "Asset State Store"]
MAX_EXAMPLES = int(os.environ.get("LEOFLOW_FUZZ_EXAMPLES", "12"))


async def _seed(plane: Any) -> None:
    """A DAG with a run, so that listings and ``~`` paths return rows."""
    document = with_content_hash({
        "schema_version": 1, "dag_id": "fuzz", "schedule": {"kind": "none"},
        "tasks": [{"task_id": "t", "operator": "python", "callable": "f", "upstream": [],
                   "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}}}]})
    await plane.operations.register_dag(document, source_code="# fuzz\n",
                                        paused_on_create=True)
    await plane.operations.trigger_run("fuzz", run_id="fuzz_run", allow_paused=True)


def database(request: pytest.FixtureRequest, home: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{home / 'fuzz.db'}"
        return
    with scratch_postgres(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_url(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API over HTTP on each metadata backend (PostgreSQL rejects inputs SQLite takes)."""
    home = tmp_path_factory.mktemp("fuzz-home")
    for url in database(request, home):
        yield from serve(home, url)


def serve(home: Path, database_url: str) -> Iterator[str]:
    import uvicorn

    settings_ = Settings(home=home, database_url=database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        plane = await start_control_plane(settings_, parallelism=4)
        app.state.context = ApiContext(
            store=plane.store, operations=plane.operations, auth=TokenAuthenticator(),
            xcom=plane.xcom, logs=plane.logs, version="fuzz", started_at=datetime.now(UTC))
        await _seed(plane)
        try:
            yield
        finally:
            await plane.stop()

    app = create_api(version="fuzz", lifespan=lifespan)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def airflow_schema(live_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{live_url}/openapi.json").include(tag=TAGS)


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_no_input_produces_a_server_error(airflow_schema: Any, live_url: str) -> None:
    """Each operation in turn, with valid and with invalid data, in bounded, derandomized
    Hypothesis runs (the pytest plugin's lazy fixtures do not run under this pytest)."""
    failures: list[str] = []
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in itertools.product(operations(airflow_schema), modes):

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
                  database=None, suppress_health_check=list(HealthCheck))
        def probe(case: Any) -> None:
            response = case.call(base_url=live_url, timeout=30,
                                 headers={"Authorization": "Bearer admin-token"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} "
                                f"-> {response.status_code}: {response.text[:200]}")

        with contextlib.suppress(Unsatisfiable):  # no invalid input exists (no parameters)
            probe()
    assert not failures, "\n".join(failures)


def test_the_schema_covers_the_airflow_routes(airflow_schema: Any) -> None:
    paths = {op.path for op in operations(airflow_schema)}
    for expected in ("/api/v2/dags", "/api/v2/dags/{dag_id}/dagRuns",
                     "/api/v2/dags/{dag_id}/clearTaskInstances",
                     "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/"
                     "logs/{try_number}", "/api/v2/assets", "/api/v2/assets/events",
                     "/api/v2/assets/{asset_id}/materialize"):
        assert expected in paths
    assert Path(__file__).exists()
