"""Schemathesis generates requests for the Leoflow routes (push and versions, users and API
tokens, leader election) and /metrics from the app's own OpenAPI: none may be answered with
a 5xx, on SQLite and on PostgreSQL (which refuses inputs SQLite takes).

The app is ``leoflow-server``'s over real HTTP with the REAL auth: the bootstrap admin's JWT
from ``POST /auth/token``, a Viewer, no token, forged and expired tokens, a cookie without
Origin (``tests/integration/fuzz_harness.py``); bounded, derandomized examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from tests.integration.api_leoflow.conftest import _hello  # noqa: E402
from tests.integration.fuzz_harness import LiveApi, fuzz, serve  # noqa: E402

pytestmark = pytest.mark.slow
MAX_EXAMPLES = int(os.environ.get("LEOFLOW_FUZZ_EXAMPLES", "20"))
OTHER_EXAMPLES = int(os.environ.get("LEOFLOW_FUZZ_OTHER_EXAMPLES", "8"))
OPERATIONS = {
    ("POST", "/api/leoflow/dags"), ("GET", "/api/leoflow/dags/{dag_id}/versions"),
    ("GET", "/api/leoflow/dags/{dag_id}/versions/{version_number}"), ("GET", "/metrics"),
    ("GET", "/api/leoflow/dags/{dag_id}/providers"),
    ("GET", "/api/leoflow/ha"),
    ("GET", "/api/leoflow/users"), ("POST", "/api/leoflow/users"),
    ("GET", "/api/leoflow/users/{username}"), ("PATCH", "/api/leoflow/users/{username}"),
    ("DELETE", "/api/leoflow/users/{username}"),
    ("GET", "/api/leoflow/users/{username}/tokens"),
    ("POST", "/api/leoflow/users/{username}/tokens"),
    ("DELETE", "/api/leoflow/users/{username}/tokens/{token_id}"),
}


async def _seed(plane: Any) -> None:
    hello = _hello()
    await plane.operations.register_dag(hello.document("hello"), source_code=hello.source)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveApi]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with serve(tmp_path / "home", url, seed=_seed) as api:
        yield api


def test_no_input_produces_a_server_error(live: LiveApi) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json").include(
        path_regex=r"^/(api/leoflow/(dags|users|ha)|metrics)")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == OPERATIONS
    report = fuzz(live, operations, examples=MAX_EXAMPLES, other_examples=OTHER_EXAMPLES)
    print("Leoflow routes:", report.summary())
    assert not report.failures, "\n".join(report.failures)
