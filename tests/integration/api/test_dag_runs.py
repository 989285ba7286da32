"""/api/v2 DAG runs: the trigger body rules of Airflow 3, then a real run of examples/hello
driven through list, get, patch, clear and delete."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import pytest_asyncio

from tests.integration.api.client_models import parse
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

RUNS = "/api/v2/dags/hello/dagRuns"


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def registered(api: Api) -> None:
    await api.register_example("hello", paused=False)
    await api.register_spec("sleepy", tasks=2, paused=True,
                            params={"n": {"default": 1, "schema": {"type": "integer"}}})


def path(run_id: str) -> str:
    """A run's URL as the client builds it: the run id percent-encoded (':' and '+')."""
    return f"{RUNS}/{quote(run_id, safe='')}"


async def test_trigger_answers_200_with_a_queued_manual_run(api: Api) -> None:
    response = await api.post("/api/v2/dags/sleepy/dagRuns",
                              json={"logical_date": "2026-03-01T10:00:00+00:00",
                                    "conf": {"n": 3}, "note": "by the test"})
    assert response.status_code == 200, response.text
    run = parse("DAGRunResponse", response.json())
    assert run.state == "queued" and run.run_type == "manual"
    assert run.triggered_by == "rest_api" and run.triggering_user_name == "admin"
    assert run.dag_run_id.startswith("manual__") and run.conf == {"n": 3}
    assert run.note == "by the test"
    assert run.logical_date.isoformat() == "2026-03-01T10:00:00+00:00"
    # A DAG without a schedule: the data interval is exactly the logical date.
    assert run.data_interval_start == run.data_interval_end == run.logical_date
    assert [v.version_number for v in run.dag_versions] == [1]
    raw = response.json()
    assert raw["run_after"].endswith("Z") and raw["logical_date"] == "2026-03-01T10:00:00Z"
    # The paused DAG keeps its run queued.
    again = parse("DAGRunResponse", (await api.get(
        f"/api/v2/dags/sleepy/dagRuns/{quote(run.dag_run_id, safe='')}")).json())
    assert again.state == "queued"


@pytest.mark.parametrize(("body", "status", "error_type"), [
    ({"conf": {}}, 422, "missing"),                                     # key required
    ({"logical_date": "2026-03-01T10:00:00"}, 422, "timezone_aware"),   # naive
    ({"logical_date": None, "unexpected": 1}, 422, "extra_forbidden"),
    ({"logical_date": None, "data_interval_start": "2026-03-01T00:00:00Z"}, 422, None),
    ({"logical_date": None, "conf": [1, 2]}, 422, None),
    ({"logical_date": "yesterday"}, 422, None),
    ({"logical_date": None, "conf": {"n": "three"}}, 400, None),         # params schema
    ({"logical_date": None, "dag_run_id": "bad/run id"}, 400, None),
    ({"logical_date": None, "note": "x" * 1001}, 422, None),
])
async def test_trigger_body_rules(api: Api, body: dict, status: int,
                                  error_type: str | None) -> None:
    response = await api.post("/api/v2/dags/sleepy/dagRuns", json=body)
    assert response.status_code == status, response.text
    if error_type is not None:
        assert error_type in {e["type"] for e in response.json()["detail"]}


async def test_trigger_conflicts_and_unknowns(api: Api) -> None:
    body = {"logical_date": "2026-04-01T00:00:00Z", "dag_run_id": "api_first"}
    assert (await api.post("/api/v2/dags/sleepy/dagRuns", json=body)).status_code == 200
    same_date = await api.post("/api/v2/dags/sleepy/dagRuns",
                               json={"logical_date": "2026-04-01T00:00:00Z"})
    assert same_date.status_code == 409
    same_id = await api.post("/api/v2/dags/sleepy/dagRuns",
                             json={"logical_date": None, "dag_run_id": "api_first"})
    assert same_id.status_code == 409
    # Null logical dates never collide.
    for _ in range(2):
        assert (await api.post("/api/v2/dags/sleepy/dagRuns",
                               json={"logical_date": None})).status_code == 200
    unknown = await api.post("/api/v2/dags/nope/dagRuns", json={"logical_date": None})
    assert (unknown.status_code, unknown.json()) == (
        404, {"detail": "DAG with dag_id: 'nope' not found"})
    viewer = await api.post("/api/v2/dags/sleepy/dagRuns", json={"logical_date": None},
                            token="viewer-token")
    assert viewer.status_code == 403


async def test_a_run_from_trigger_to_success(api: Api) -> None:
    response = await api.post(RUNS, json={"logical_date": None, "conf": {}},
                              token="user-token")
    assert response.status_code == 200
    run_id = response.json()["dag_run_id"]
    assert "+" in run_id and ":" in run_id
    done = parse("DAGRunResponse", await api.wait_run("hello", run_id))
    assert done.state == "success" and done.logical_date is None
    assert done.start_date <= done.end_date and done.duration > 0
    assert done.triggering_user_name == "ursula"
    fetched = await api.get(path(run_id))
    assert parse("DAGRunResponse", fetched.json()).dag_run_id == run_id


async def test_list_runs_with_filters_and_every_dag(api: Api) -> None:
    every = await api.get("/api/v2/dags/~/dagRuns", params={"limit": 100})
    page = parse("DAGRunCollectionResponse", every.json())
    assert {r.dag_id for r in page.dag_runs} == {"hello", "sleepy"}
    assert page.total_entries == len(page.dag_runs)
    queued = parse("DAGRunCollectionResponse", (await api.get(
        "/api/v2/dags/~/dagRuns", params={"state": "queued"})).json())
    assert {r.dag_id for r in queued.dag_runs} == {"sleepy"}
    dated = parse("DAGRunCollectionResponse", (await api.get(
        "/api/v2/dags/sleepy/dagRuns", params={"logical_date_gte": "2026-03-15T00:00:00Z",
                                               "order_by": "-logical_date"})).json())
    assert [r.dag_run_id for r in dated.dag_runs] == ["api_first"]
    one = parse("DAGRunCollectionResponse", (await api.get(
        "/api/v2/dags/~/dagRuns", params={"limit": 1, "offset": 1, "order_by": "id"})).json())
    assert len(one.dag_runs) == 1 and one.total_entries == page.total_entries
    assert (await api.get("/api/v2/dags/~/dagRuns", params={"state": "lost"})
            ).status_code == 422
    assert (await api.get("/api/v2/dags/~/dagRuns", params={"order_by": "conf"})
            ).status_code == 400
    missing = await api.get("/api/v2/dags/nope/dagRuns")
    assert (missing.status_code, missing.json()) == (
        404, {"detail": "The DAG with dag_id: `nope` was not found"})


async def test_unknown_run_is_404(api: Api) -> None:
    response = await api.get(path("manual__2020-01-01T00:00:00+00:00"))
    assert (response.status_code, response.json()) == (404, {
        "detail": "The DagRun with dag_id: `hello` and run_id: "
                  "`manual__2020-01-01T00:00:00+00:00` was not found"})


async def test_patch_note_state_and_queue_again(api: Api) -> None:
    run_id = (await api.post(RUNS, json={"logical_date": None})).json()["dag_run_id"]
    await api.wait_run("hello", run_id)
    noted = await api.patch(path(run_id), params={"update_mask": "note"},
                            json={"note": "looked at it", "state": "failed"})
    body = parse("DAGRunResponse", noted.json())
    assert body.note == "looked at it" and body.state == "success"  # the mask kept state
    failed = parse("DAGRunResponse", (await api.patch(path(run_id),
                                                      json={"state": "failed"})).json())
    assert failed.state == "failed"
    queued = parse("DAGRunResponse", (await api.patch(path(run_id),
                                                      json={"state": "queued"})).json())
    assert queued.state == "queued"
    # Queued again with every task done: the scheduler finishes it as it is.
    assert (await api.wait_run("hello", run_id))["state"] == "success"
    assert (await api.patch(path(run_id), json={"state": "running"})).status_code == 422
    assert (await api.patch(path(run_id), json={"state": "failed"},
                            token="viewer-token")).status_code == 403


async def test_clear_a_run(api: Api) -> None:
    run_id = (await api.post(RUNS, json={"logical_date": None})).json()["dag_run_id"]
    await api.wait_run("hello", run_id)
    dry = await api.post(path(run_id) + "/clear", json={})  # dry_run defaults to true
    listed = parse("TaskInstanceCollectionResponse", dry.json())
    assert sorted(t.task_id for t in listed.task_instances) == ["make_greeting", "shout"]
    assert {t.state for t in listed.task_instances} == {"success"}
    only_failed = parse("TaskInstanceCollectionResponse", (await api.post(
        path(run_id) + "/clear", json={"only_failed": True})).json())
    assert only_failed.total_entries == 0
    cleared = await api.post(path(run_id) + "/clear", json={"dry_run": False})
    assert parse("DAGRunResponse", cleared.json()).state == "queued"
    assert (await api.wait_run("hello", run_id))["state"] == "success"
    tries = await api.get(path(run_id) + "/taskInstances/shout/tries")
    assert [t["try_number"] for t in tries.json()["task_instances"]] == [1, 2]
    assert (await api.post(path(run_id) + "/clear", json={"dry_run": False},
                           token="viewer-token")).status_code == 403


async def test_delete_a_run(api: Api) -> None:
    run_id = (await api.post(RUNS, json={"logical_date": None})).json()["dag_run_id"]
    await api.wait_run("hello", run_id)
    assert (await api.delete(path(run_id), token="viewer-token")).status_code == 403
    response = await api.delete(path(run_id), token="user-token")
    assert response.status_code == 204
    assert (await api.get(path(run_id))).status_code == 404
    assert (await api.delete(path(run_id))).status_code == 404
