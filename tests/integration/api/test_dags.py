"""/api/v2 version, health and DAGs, checked field by field through the client's models."""

from __future__ import annotations

import uuid

import pytest
import pytest_asyncio

from leoflow import __version__
from leoflow.engine.store import dags, runs, task_instances
from leoflow.engine.store.task_instances import NewTaskInstance
from tests.integration.api.client_models import parse
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

MANY = 120  # more DAGs than the maximum page


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def registered(api: Api) -> None:
    await api.register_example("hello", paused=False)
    await api.register_example("bash_pipeline", paused=True)
    for i in range(MANY):
        await api.register_spec(f"bulk_{i:03d}", tags=("bulk",))


async def test_version_and_health_need_no_token(api: Api) -> None:
    version = await api.client.get("/api/v2/version")
    assert version.status_code == 200
    assert parse("VersionInfo", version.json()).version == __version__
    health = await api.client.get("/api/v2/monitor/health")
    assert health.status_code == 200
    info = parse("HealthInfoResponse", health.json())
    assert info.metadatabase.status == "healthy"
    assert info.scheduler.status == "healthy"
    assert info.scheduler.latest_scheduler_heartbeat.endswith("Z")
    assert info.triggerer.status == "healthy"  # the scheduler's trigger runner


async def test_tokens_are_required_and_checked(api: Api) -> None:
    missing = await api.client.get("/api/v2/dags")
    assert (missing.status_code, missing.json()) == (401, {"detail": "Not authenticated"})
    bad = await api.get("/api/v2/dags", token="forged")
    assert (bad.status_code, bad.json()) == (403, {"detail": "Invalid JWT token"})


async def test_a_listed_dag_has_every_field_the_client_requires(api: Api) -> None:
    response = await api.get("/api/v2/dags", params={"dag_id_pattern": "hello"})
    assert response.status_code == 200
    page = parse("DAGCollectionResponse", response.json())
    assert page.total_entries == 1
    dag = page.dags[0]
    assert dag.dag_id == dag.dag_display_name == "hello"
    assert dag.is_paused is False and dag.is_stale is False
    assert dag.has_import_errors is False and dag.has_task_concurrency_limits is False
    assert dag.max_active_tasks == 16 and dag.max_consecutive_failed_dag_runs == 0
    assert dag.owners == ["airflow"]
    assert sorted(t.name for t in dag.tags) == ["example", "starter"]
    assert {t.dag_id for t in dag.tags} == {"hello"}
    assert dag.fileloc.endswith("hello/dag.py") and dag.relative_fileloc == "dag.py"
    assert isinstance(dag.file_token, str) and dag.file_token
    assert dag.description == "Two tasks: make a greeting, then print it."
    assert dag.timetable_summary is None
    assert dag.timetable_periodic is False and dag.is_backfillable is False
    raw = response.json()["dags"][0]
    assert raw["last_parsed_time"].endswith("Z")


async def test_a_scheduled_dag_shows_its_timetable(api: Api) -> None:
    dag = parse("DAGResponse", (await api.get("/api/v2/dags/bash_pipeline")).json())
    assert dag.timetable_summary == "@daily"
    assert dag.timetable_periodic is True and dag.is_backfillable is True
    assert dag.is_paused is True


@pytest.mark.parametrize(("params", "expected"), [
    ({"dag_id_pattern": "HELL"}, ["hello"]),
    ({"dag_id_pattern": "b%pipe"}, ["bash_pipeline"]),       # % is a wildcard
    ({"dag_id_pattern": "_ello"}, ["hello"]),                 # and so is _
    ({"dag_id_pattern": "nothing-like-it"}, []),
    ({"tags": "bash"}, ["bash_pipeline"]),
    ({"tags": ["bash", "starter"]}, ["bash_pipeline", "hello"]),
    ({"tags": ["example", "bash"], "tags_match_mode": "all"}, ["bash_pipeline"]),
    ({"paused": "false"}, ["hello"]),
    ({"dag_id_prefix_pattern": "hel"}, ["hello"]),
    ({"owners": "airflow", "dag_id_pattern": "a"}, ["bash_pipeline"]),
])
async def test_filters(api: Api, params: dict, expected: list[str]) -> None:
    response = await api.get("/api/v2/dags", params={**params, "limit": 100})
    page = parse("DAGCollectionResponse", response.json())
    found = sorted(d.dag_id for d in page.dags if not d.dag_id.startswith("bulk_"))
    assert found == expected


async def test_paging_defaults_to_50_and_caps_at_100(api: Api) -> None:
    default = parse("DAGCollectionResponse", (await api.get("/api/v2/dags")).json())
    assert len(default.dags) == 50 and default.total_entries == MANY + 2
    capped = parse("DAGCollectionResponse",
                   (await api.get("/api/v2/dags", params={"limit": 1000})).json())
    assert len(capped.dags) == 100
    tail = parse("DAGCollectionResponse", (await api.get(
        "/api/v2/dags", params={"limit": 100, "offset": 100})).json())
    assert len(tail.dags) == MANY + 2 - 100
    everyone = [d.dag_id for d in capped.dags] + [d.dag_id for d in tail.dags]
    assert len(set(everyone)) == MANY + 2  # pages never overlap
    assert (await api.get("/api/v2/dags", params={"limit": -1})).status_code == 422
    assert (await api.get("/api/v2/dags", params={"offset": 2**70})).status_code == 200


async def test_order_by(api: Api) -> None:
    first = parse("DAGCollectionResponse", (await api.get(
        "/api/v2/dags", params={"order_by": "-dag_id", "limit": 1})).json())
    assert first.dags[0].dag_id == "hello"
    ascending = parse("DAGCollectionResponse", (await api.get(
        "/api/v2/dags", params={"order_by": ["dag_id"], "limit": 1})).json())
    assert ascending.dags[0].dag_id == "bash_pipeline"
    bad = await api.get("/api/v2/dags", params={"order_by": "password"})
    assert bad.status_code == 400 and "password" in bad.json()["detail"]


async def test_get_and_details(api: Api) -> None:
    dag = parse("DAGResponse", (await api.get("/api/v2/dags/hello")).json())
    assert dag.dag_id == "hello"
    response = await api.get("/api/v2/dags/hello/details")
    details = parse("DAGDetailsResponse", response.json())
    assert details.catchup is False and details.render_template_as_native_obj is False
    assert details.concurrency == details.max_active_tasks == 16
    assert details.max_active_runs == 16
    assert details.timezone == "UTC"
    assert details.start_date.isoformat().startswith("2026-01-01T00:00:00")
    version = details.latest_dag_version
    assert version.version_number == 1 and version.dag_id == "hello"
    uuid.UUID(str(version.id))
    assert response.json()["latest_dag_version"]["created_at"].endswith("Z")


async def test_unknown_dag_is_404_with_airflows_message(api: Api) -> None:
    for path in ("/api/v2/dags/nope", "/api/v2/dags/nope/details"):
        response = await api.get(path)
        assert (response.status_code, response.json()) == (
            404, {"detail": "The Dag with ID: `nope` was not found"})


async def test_pause_and_unpause_with_update_mask(api: Api) -> None:
    path = "/api/v2/dags/bulk_000"
    paused = await api.patch(path, params={"update_mask": "is_paused"},
                             json={"is_paused": False})
    assert paused.status_code == 200
    assert parse("DAGResponse", paused.json()).is_paused is False
    again = await api.patch(path, json={"is_paused": True})  # no mask: the body's fields
    assert parse("DAGResponse", again.json()).is_paused is True
    assert (await api.patch(path, params={"update_mask": "description"},
                            json={"is_paused": True})).status_code == 400
    assert (await api.patch(path, json={})).status_code == 422
    assert (await api.patch(path, json={"is_paused": "yes"})).status_code == 422
    assert (await api.patch(path, json={"is_paused": True, "owner": "x"})).status_code == 422
    assert (await api.patch(path, json={"is_paused": False}, token="viewer-token")
            ).status_code == 403
    assert (await api.patch("/api/v2/dags/nope", json={"is_paused": False})).status_code == 404


async def test_bulk_patch_pauses_one_page(api: Api) -> None:
    response = await api.patch("/api/v2/dags", params={"dag_id_pattern": "bulk_01",
                                                        "update_mask": "is_paused"},
                               json={"is_paused": False})
    page = parse("DAGCollectionResponse", response.json())
    assert page.total_entries == 10 and all(d.is_paused is False for d in page.dags)
    await api.patch("/api/v2/dags", params={"dag_id_pattern": "bulk_01"},
                    json={"is_paused": True})


async def test_delete_needs_manage_dags_and_removes_everything(api: Api) -> None:
    await api.register_spec("doomed")
    assert (await api.delete("/api/v2/dags/doomed", token="user-token")).status_code == 403
    response = await api.delete("/api/v2/dags/doomed", token="op-token")
    assert response.status_code == 204 and response.content == b""
    assert (await api.get("/api/v2/dags/doomed")).status_code == 404
    missing = await api.delete("/api/v2/dags/doomed")
    assert (missing.status_code, missing.json()) == (
        404, {"detail": "Dag with id: doomed was not found"})


async def test_delete_is_refused_while_a_task_runs(api: Api) -> None:
    await api.register_spec("busy")
    async with api.plane.store.begin() as conn:
        version = await dags.current_version(conn, "busy")
        run = await runs.create_run(conn, dag_id="busy", run_id="r1", run_type="manual",
                                    dag_version_id=version.id, run_after=version.created_at)
        [ti] = await task_instances.create_task_instances(conn, run, [NewTaskInstance("t0")])
        await task_instances.set_task_state(conn, ti.id, "running")
    response = await api.delete("/api/v2/dags/busy")
    assert (response.status_code, response.json()) == (
        409, {"detail": "Task instances of dag with id: 'busy' are still running"})
    async with api.plane.store.begin() as conn:
        await task_instances.set_task_state(conn, ti.id, "failed")
    assert (await api.delete("/api/v2/dags/busy")).status_code == 204
