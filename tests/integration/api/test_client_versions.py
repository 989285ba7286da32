"""Every response shape served here, parsed by the models of both supported clients: 3.3.2
(installed here) and 3.0.2 (in its own uv-built environment). The two disagree on what is
required and on which enum values exist; a response must satisfy both."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio

from leoflow.engine.store import import_errors
from tests.integration.api.assets_dags import asset, register
from tests.integration.api.client_models import parse
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

VALIDATE = """
import json, sys
from airflow_client.client import models
failures = []
for name, model, payload in json.load(open(sys.argv[1])):
    try:
        getattr(models, model).from_dict(payload)
    except Exception as exc:
        failures.append(f"{name} as {model}: {type(exc).__name__}: {exc}")
print(json.dumps(failures))
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def samples(api: Api) -> list[tuple[str, str, Any]]:
    """(what, client model, JSON) for one of each response of every route."""
    await api.register_example("hello")
    await api.register_example("dynamic_mapping")
    async with api.plane.store.begin() as conn:
        error = await import_errors.record_import_error(
            conn, filename="/dags/broken.py", message="SyntaxError: bad", stack_trace="...")
    ids = {}
    for dag_id in ("hello", "dynamic_mapping"):
        response = await api.post(f"/api/v2/dags/{dag_id}/dagRuns",
                                  json={"logical_date": "2026-02-01T00:00:00Z",
                                        "conf": {}, "note": "n"})
        ids[dag_id] = response.json()["dag_run_id"]
    for dag_id, run_id in ids.items():
        await api.wait_run(dag_id, run_id)
    run = f"/api/v2/dags/hello/dagRuns/{quote(ids['hello'], safe='')}"
    assets = await asset_samples(api)
    mapped = f"/api/v2/dags/dynamic_mapping/dagRuns/{quote(ids['dynamic_mapping'], safe='')}"
    wanted = [
        ("version", "VersionInfo", "get", "/api/v2/version", None),
        ("health", "HealthInfoResponse", "get", "/api/v2/monitor/health", None),
        ("dags", "DAGCollectionResponse", "get", "/api/v2/dags", None),
        ("dag", "DAGResponse", "get", "/api/v2/dags/hello", None),
        ("details", "DAGDetailsResponse", "get", "/api/v2/dags/dynamic_mapping/details",
         None),
        ("patched dag", "DAGResponse", "patch", "/api/v2/dags/hello", {"is_paused": False}),
        ("run", "DAGRunResponse", "get", run, None),
        ("runs", "DAGRunCollectionResponse", "get", "/api/v2/dags/~/dagRuns", None),
        ("tis", "TaskInstanceCollectionResponse", "get", run + "/taskInstances", None),
        ("all tis", "TaskInstanceCollectionResponse", "get",
         "/api/v2/dags/~/dagRuns/~/taskInstances", None),
        ("ti", "TaskInstanceResponse", "get", run + "/taskInstances/shout", None),
        ("mapped ti", "TaskInstanceResponse", "get", mapped + "/taskInstances/thumbnail/3",
         None),
        ("mapped", "TaskInstanceCollectionResponse", "get",
         mapped + "/taskInstances/thumbnail/listMapped", None),
        ("tries", "TaskInstanceHistoryCollectionResponse", "get",
         run + "/taskInstances/shout/tries", None),
        ("try", "TaskInstanceHistoryResponse", "get", run + "/taskInstances/shout/tries/1",
         None),
        ("xcoms", "XComCollectionResponse", "get",
         run + "/taskInstances/make_greeting/xcomEntries", None),
        ("xcom", "XComResponseNative", "get",
         mapped + "/taskInstances/summary/xcomEntries/return_value", None),
        ("xcom text", "XComResponseString", "get",
         mapped + "/taskInstances/summary/xcomEntries/return_value?stringify=true", None),
        ("log", "TaskInstancesLogResponse", "get", run + "/taskInstances/shout/logs/1", None),
        ("source", "DAGSourceResponse", "get", "/api/v2/dagSources/hello?version_number=1",
         None),
        ("import errors", "ImportErrorCollectionResponse", "get", "/api/v2/importErrors",
         None),
        ("import error", "ImportErrorResponse", "get",
         f"/api/v2/importErrors/{error.id}", None),
        ("clear dry run", "TaskInstanceCollectionResponse", "post",
         "/api/v2/dags/hello/clearTaskInstances",
         {"dag_run_id": ids["hello"], "only_failed": False}),
        ("run clear dry run", "TaskInstanceCollectionResponse", "post", run + "/clear", {}),
        ("marked", "TaskInstanceCollectionResponse", "patch",
         mapped + "/taskInstances/thumbnail/2", {"new_state": "failed"}),
        ("patched run", "DAGRunResponse", "patch", run, {"note": "seen"}),
        *assets,
    ]
    out = []
    for name, model, method, url, body in wanted:
        kwargs = {"json": body} if body is not None else {}
        response = await getattr(api, method)(url, **kwargs)
        assert response.status_code == 200, (name, response.text)
        out.append((name, model, response.json()))
    return out


async def asset_samples(api: Api) -> list[tuple[str, str, str, str, Any]]:
    """The asset routes' answers: a producer (outlet and alias), a consumer of two assets,
    one event queued, a consumer run started by the second, a materialized run."""
    x, y = asset("versions_x"), asset("versions_y")
    await register(api, "versions_producer", outlets=[x, {"alias": {"name": "versions_alias"}}])
    await register(api, "versions_consumer", schedule={"kind": "assets",
                                                       "assets": {"all": [x, y]}})
    found = {a["name"]: a["id"] for a in (await api.get("/api/v2/assets")).json()["assets"]}
    x_id, y_id = found["versions_x"], found["versions_y"]
    await api.post("/api/v2/assets/events", json={"asset_id": y_id})
    await api.post("/api/v2/assets/events", json={"asset_id": x_id})
    consumer_run = (await api.get("/api/v2/dags/versions_consumer/dagRuns")).json()[
        "dag_runs"][0]["dag_run_id"]
    await api.post("/api/v2/assets/events", json={"asset_id": x_id})
    alias_id = (await api.get("/api/v2/assets/aliases")).json()["asset_aliases"][0]["id"]
    queued = "/api/v2/dags/versions_consumer/assets"
    return [
        ("assets", "AssetCollectionResponse", "get", "/api/v2/assets", None),
        ("asset", "AssetResponse", "get", f"/api/v2/assets/{x_id}", None),
        ("asset events", "AssetEventCollectionResponse", "get", "/api/v2/assets/events", None),
        ("asset aliases", "AssetAliasCollectionResponse", "get", "/api/v2/assets/aliases",
         None),
        ("asset alias", "AssetAliasResponse", "get", f"/api/v2/assets/aliases/{alias_id}",
         None),
        ("queued events", "QueuedEventCollectionResponse", "get", f"{queued}/queuedEvents",
         None),
        ("queued event", "QueuedEventResponse", "get", f"{queued}/{x_id}/queuedEvents", None),
        ("asset queued events", "QueuedEventCollectionResponse", "get",
         f"/api/v2/assets/{x_id}/queuedEvents", None),
        ("upstream asset events", "AssetEventCollectionResponse", "get",
         f"/api/v2/dags/versions_consumer/dagRuns/{quote(consumer_run, safe='')}/"
         "upstreamAssetEvents", None),
        ("consumer details", "DAGDetailsResponse", "get",
         "/api/v2/dags/versions_consumer/details", None),
        # after the queued ones: this event completes the consumer's condition
        ("new asset event", "AssetEventResponse", "post", "/api/v2/assets/events",
         {"asset_id": y_id, "extra": {"k": 1}, "partition_key": "p"}),
        ("materialized", "DAGRunResponse", "post", f"/api/v2/assets/{x_id}/materialize", {}),
    ]


async def test_every_response_parses_with_client_3_3(samples: list) -> None:
    for name, model, payload in samples:
        try:
            parse(model, payload)
        except Exception as exc:  # say which response failed
            raise AssertionError(f"{name} as {model}: {exc}") from exc


async def test_every_response_parses_with_client_3_0(samples: list, client_302: str,
                                                     tmp_path: Path) -> None:
    data = tmp_path / "samples.json"
    data.write_text(json.dumps(samples), "utf-8")
    done = subprocess.run([client_302, "-c", VALIDATE, str(data)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
