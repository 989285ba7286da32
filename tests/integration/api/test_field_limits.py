"""Per-field size limits through the real control plane (issue 15, item 12): a run's conf
of 10 MB was accepted and handed to every task; now it is refused, naming the field and
the limit, and nothing is created."""

from __future__ import annotations

import pytest
import pytest_asyncio

from leoflow.engine.services.limits import MAX_CONF_BYTES
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

RUNS = "/api/v2/dags/conf_limits/dagRuns"


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def registered(api: Api) -> None:
    await api.register_spec("conf_limits", paused=True)


async def test_a_10_mb_conf_is_refused_and_no_run_is_made(api: Api) -> None:
    huge = {"rows": ["x" * 1000] * 10_000}  # ~10 MB of JSON
    refused = await api.post(RUNS, json={"logical_date": None, "conf": huge})
    assert refused.status_code == 422, refused.text[:300]
    detail = refused.json()["detail"]
    assert "conf" in detail and str(MAX_CONF_BYTES) in detail
    assert (await api.get(RUNS)).json()["total_entries"] == 0


async def test_a_conf_under_the_limit_is_accepted(api: Api) -> None:
    conf = {"rows": ["x" * 1000] * 200}  # ~200 KB
    accepted = await api.post(RUNS, json={"logical_date": None, "conf": conf})
    assert accepted.status_code == 200, accepted.text[:300]
    assert accepted.json()["conf"] == conf
