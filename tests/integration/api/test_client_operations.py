"""Every operation of the installed official ``apache-airflow-client`` (3.3.2) against a real
control plane on SQLite over HTTP: each is either called through the client with realistic
data and its answer deserialized into the client's own model (the method's return type),
or listed as not applying to Leoflow with a reason, and then checked to answer Airflow's
error shape ``{"detail": "..."}`` with the status named there.

The operations are read from the installed package, so a client release that adds one
fails ``test_every_operation_is_accounted_for`` until it is served or justified.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from leoflow.engine.auth.permissions import Principal
from leoflow.engine.services.import_errors import ImportErrors
from leoflow.engine.spec.canonical import with_content_hash
from tests.integration.api.assets_dags import asset, register
from tests.integration.api.client_operations import (
    NOT_APPLICABLE,
    SERVED,
    Apis,
    World,
    client_operations,
)
from tests.integration.api.test_hitl_api import served, waiting_run
from tests.integration.real_auth import api_token

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

OPERATIONS = client_operations()
X, Y = asset("ops_x"), asset("ops_y")
ALIAS = {"alias": {"name": "ops_alias", "group": ""}}


def _catalog_document(dag_id: str, **extra: Any) -> dict[str, Any]:
    tasks = [{"task_id": "extract", "operator": "python", "callable": "f", "upstream": [],
              "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}},
              "retries": 2, "retry_delay": 90.0},
             {"task_id": "load", "operator": "bash", "upstream": ["extract"],
              "trigger_rule": "all_done", "inputs": {"args": [], "kwargs": {}},
              "pool": "warehouse_pool"}]
    return with_content_hash({"schema_version": 1, "dag_id": dag_id, "tags": ["finance",
                                                                            "daily"],
                              "schedule": {"kind": "none"}, "tasks": tasks, **extra})


async def _seed(api: Any) -> World:
    world = World()
    await api.register_example("hello")
    run = await api.plane.operations.trigger_run("hello", note="seed")
    world.run_id = run.run_id
    await api.wait_run("hello", run.run_id)
    world.hitl_run = await waiting_run(api)
    await api.register_example("dynamic_mapping")
    mapped = await api.plane.operations.trigger_run("dynamic_mapping")
    world.extra["mapped_run"] = mapped.run_id
    path = f"/api/v2/dags/dynamic_mapping/dagRuns/{mapped.run_id}/taskInstances/thumbnail"
    for _ in range(600):  # the literal lists expand as soon as the run starts
        if (await api.get(f"{path}/listMapped")).json().get("total_entries"):
            break
        await asyncio.sleep(0.1)
    for dag_id in (world.catalog_dag, "doomed_dag"):
        await api.plane.operations.register_dag(
            _catalog_document(dag_id), source_code="# catalog\n",
            fileloc=f"/dags/{dag_id}.py", paused_on_create=True)
    world.extra["doomed_dag"] = "doomed_dag"
    empty = {"operator": "empty", "trigger_rule": "all_success",
             "inputs": {"args": [], "kwargs": {}}}
    await api.plane.operations.register_dag(with_content_hash({
        "schema_version": 1, "dag_id": "grouped_dag", "schedule": {"kind": "none"},
        "tasks": [{**empty, "task_id": "etl.extract", "group_id": "etl", "upstream": []},
                  {**empty, "task_id": "etl.load", "group_id": "etl",
                   "upstream": ["etl.extract"]},
                  {**empty, "task_id": "report", "upstream": ["etl.load"]}]}),
        source_code="# grouped\n", fileloc="/dags/grouped.py", paused_on_create=False)
    grouped = await api.plane.operations.trigger_run("grouped_dag")
    await api.wait_run("grouped_dag", grouped.run_id)
    world.extra["grouped_run"] = grouped.run_id
    await api.plane.operations.register_dag(with_content_hash({
        "schema_version": 1, "dag_id": "daily_dag", "catchup": False,
        "schedule": {"kind": "cron", "cron": "0 0 * * *"}, "start_date": "2026-01-01T00:00:00Z",
        "tasks": [{**empty, "task_id": "load", "upstream": []}]}),
        source_code="# daily\n", fileloc="/dags/daily.py", paused_on_create=True)
    world.extra["backfill_dag"] = "daily_dag"
    await register(api, "ops_producer", outlets=[X, ALIAS])
    await register(api, world.consumer, schedule={"kind": "assets", "assets": {"all": [X, Y]}})
    listed = (await api.get("/api/v2/assets?name_pattern=ops_&order_by=name")).json()
    world.asset_x, world.asset_y = (a["id"] for a in listed["assets"])
    aliases = (await api.get("/api/v2/assets/aliases?name_pattern=ops_alias")).json()
    world.alias_id = aliases["asset_aliases"][0]["id"]
    await ImportErrors(api.plane.store).record("/dags/broken.py",
                                               "broken.py:3: SyntaxError: invalid syntax")
    errors = (await api.get("/api/v2/importErrors")).json()
    world.import_error_id = errors["import_errors"][0]["import_error_id"]
    world.logout_token = await api.auth.issue(Principal("admin", "Admin"))
    return world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(api: Any) -> AsyncIterator[tuple[str, World]]:
    world = await _seed(api)
    async with served(api) as host:
        yield host, world


def _call(host: str, world: World, operation: tuple[str, str], call: Any) -> Any:
    from airflow_client.client import ApiClient, Configuration

    token = world.logout_token if operation == ("LoginApi", "logout") else \
        api_token("admin-token")
    with ApiClient(Configuration(host=host, access_token=token)) as api_client:
        return call(Apis(api_client), world)


async def test_every_operation_is_accounted_for() -> None:
    """Each operation of the installed client is served or justified, never both; the
    tables name no operation the client does not have."""
    served, excused, known = set(SERVED), set(NOT_APPLICABLE), set(OPERATIONS)
    assert not served & excused
    assert known - served - excused == set(), "operations neither served nor justified"
    assert (served | excused) - known == set(), "tables name operations the client lacks"
    assert len(OPERATIONS) >= 128


@pytest.mark.parametrize("operation", list(SERVED), ids="{0[0]}.{0[1]}".format)
async def test_operation_is_served_with_the_clients_model(live: tuple[str, World],
                                                          operation: tuple[str, str]) -> None:
    import airflow_client.client as client

    host, world = live
    result = await asyncio.to_thread(_call, host, world, operation, SERVED[operation])
    returns = inspect.signature(getattr(getattr(client, operation[0]),
                                        operation[1])).return_annotation
    if returns is None:  # 204: the client hands back nothing
        assert result is None
    elif returns is not object:
        assert isinstance(result, returns), (operation, type(result), returns)


@pytest.mark.parametrize("operation", sorted(NOT_APPLICABLE), ids="{0[0]}.{0[1]}".format)
async def test_operation_that_does_not_apply_answers_airflows_error_shape(
        live: tuple[str, World], operation: tuple[str, str]) -> None:
    from airflow_client.client.exceptions import ApiException

    host, world = live
    reason, status, call = NOT_APPLICABLE[operation]
    assert reason
    with pytest.raises(ApiException) as raised:
        await asyncio.to_thread(_call, host, world, operation, call)
    assert raised.value.status == status, raised.value.body
    body = json.loads(raised.value.body)
    assert isinstance(body.get("detail"), str) and body["detail"], body
