"""Schemathesis generates requests from the app's own OpenAPI for every Airflow route built
here and checks that none is answered with a 5xx, on SQLite and on PostgreSQL (which refuses
inputs SQLite takes).

The app is ``leoflow-server``'s, over real HTTP, with the REAL auth: the bootstrap admin's
JWT from ``POST /auth/token``, a Viewer, no token, forged and expired tokens, a cookie
without Origin (``tests/integration/fuzz_harness.py``). The auth-backed routes (variables,
connections, pools, event logs, login) are fuzzed too. Examples are bounded and
derandomized, so a run is repeatable; marked ``slow``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from leoflow.engine.spec.canonical import with_content_hash  # noqa: E402
from tests.integration.api.conftest import scratch_postgres  # noqa: E402
from tests.integration.fuzz_harness import LiveApi, fuzz, protected, serve  # noqa: E402

pytestmark = pytest.mark.slow

# The route modules of the Airflow face (the IDE and Leoflow's own routes: api_leoflow).
TAGS = ["DAG", "DagRun", "Task Instance", "XCom", "DagSource", "Import Error", "Monitor",
        "Version", "Asset", "Asset State Store", "Variable", "Connection", "Pool",
        "Event Log", "Login"]
MAX_EXAMPLES = int(os.environ.get("LEOFLOW_FUZZ_EXAMPLES", "10"))
OTHER_EXAMPLES = int(os.environ.get("LEOFLOW_FUZZ_OTHER_EXAMPLES", "6"))


async def _seed(plane: Any) -> None:
    """A DAG with a run, so that listings and ``~`` paths return rows."""
    document = with_content_hash({
        "schema_version": 1, "dag_id": "fuzz", "schedule": {"kind": "none"},
        "tasks": [{"task_id": "t", "operator": "python", "callable": "f", "upstream": [],
                   "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}}}]})
    await plane.operations.register_dag(document, source_code="# fuzz\n",
                                        paused_on_create=True)
    await plane.operations.trigger_run("fuzz", run_id="fuzz_run", allow_paused=True)


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    home = tmp_path_factory.mktemp("fuzz-home")
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{home / 'fuzz.db'}"
        with serve(home, url, seed=_seed, spare_tokens=2 * MAX_EXAMPLES + OTHER_EXAMPLES) as api:
            yield api
        return
    with scratch_postgres(request.getfixturevalue("postgres_server")) as url, \
            serve(home, url, seed=_seed, spare_tokens=2 * MAX_EXAMPLES + OTHER_EXAMPLES) as api:
        yield api


@pytest.fixture(scope="module")
def airflow_schema(live: LiveApi) -> Any:
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json").include(tag=TAGS)


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_no_input_produces_a_server_error(airflow_schema: Any, live: LiveApi) -> None:
    report = fuzz(live, operations(airflow_schema), examples=MAX_EXAMPLES,
                  other_examples=OTHER_EXAMPLES)
    print("Airflow routes:", report.summary())
    assert not report.failures, "\n".join(report.failures)


def test_the_schema_covers_the_airflow_routes(airflow_schema: Any, live: LiveApi) -> None:
    paths = {op.path for op in operations(airflow_schema)}
    for expected in ("/api/v2/dags", "/api/v2/dags/{dag_id}/dagRuns",
                     "/api/v2/dags/{dag_id}/clearTaskInstances",
                     "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/"
                     "logs/{try_number}", "/api/v2/assets", "/api/v2/assets/events",
                     "/api/v2/assets/{asset_id}/materialize", "/auth/token",
                     "/api/v2/auth/logout", "/api/v2/variables", "/api/v2/connections",
                     "/api/v2/pools", "/api/v2/eventLogs"):
        assert expected in paths
    # the fuzzer's rule "no 2xx without valid credentials" knows which routes need them
    guarded = protected(live.app)
    assert guarded[("GET", "/api/v2/dags")] and guarded[("POST", "/api/v2/variables")]
    assert not guarded[("POST", "/auth/token")] and not guarded[("GET", "/api/v2/version")]
    assert Path(__file__).exists()
