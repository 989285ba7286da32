"""Lite starts without the API's route modules and their models, and its API answers its
first requests as usual (leoflow/engine/api/lazy_routes.py)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.integration.lite.conftest import READY, LiteDirs

pytestmark = pytest.mark.slow

MODELS = "leoflow.engine.api.models."  # imported only by the route modules


def test_lite_serves_before_importing_the_api_models_and_its_api_answers(
        bare_lite_dirs: LiteDirs, start_lite: Any) -> None:
    # Python reports each module it imports on stderr, merged here with Lite's output in
    # the order they happen: the banner says the port is open.
    bare_lite_dirs.env["PYTHONPROFILEIMPORTTIME"] = "1"
    lite = start_lite(bare_lite_dirs)
    url = lite.wait_ready()
    ready = next(i for i, line in enumerate(lite.lines) if READY.search(line))
    imported_before = "\n".join(lite.lines[:ready])
    assert "leoflow.engine.api.app" in imported_before  # the report works
    assert MODELS not in imported_before

    page = httpx.get(f"{url}/login", timeout=30)
    assert page.status_code == 200 and "Leoflow Lite" in page.text
    # once the first requests are answered, the rest of the API is imported meanwhile,
    # without any request for it
    deadline = time.monotonic() + 30
    while f"{MODELS}catalog" not in lite.output and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"{MODELS}catalog" in lite.output
    # then the API answers as one imported at start (its first requests right after the
    # start: tests/integration/api/test_lazy_routes.py)
    with lite.login() as api:
        dags = api.get("/api/v2/dags")
        assert dags.status_code == 200, dags.text
        assert dags.json() == {"dags": [], "total_entries": 0}
        assert api.get("/api/v2/variables/nope").status_code == 404
        assert api.get("/api/leoflow/ha").json()["election"] is False
        reference = api.get("/openapi.json").json()
        assert "/api/v2/dags/{dag_id}/dagRuns" in reference["paths"]
    assert httpx.get(f"{url}/api/v2/dags", timeout=10).status_code == 401

    assert lite.stop() == 0
