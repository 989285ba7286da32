"""Who may do what: tenants never see each other's DAGs, runs, task instances, XComs, logs,
sources or import errors (404, as if absent); roles gate every write route; bad input is a
4xx, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import pytest_asyncio

from leoflow.engine.store import import_errors, runs, task_instances, xcom
from leoflow.engine.store.task_instances import NewTaskInstance
from tests.integration.api.client_models import parse
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

OTHER = "other-tenant-token"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(api: Api) -> dict[str, str]:
    """hello in the default tenant and in tenant ``other`` (as ``hello_other``), one
    finished run each, and import errors of each tenant and of nobody yet."""
    await api.register_example("hello")
    await api.register_spec("secret_dag", tenant="other", paused=True)
    ours = (await api.post("/api/v2/dags/hello/dagRuns",
                           json={"logical_date": None})).json()["dag_run_id"]
    theirs = (await api.post("/api/v2/dags/secret_dag/dagRuns",
                             json={"logical_date": None, "dag_run_id": "their_run"},
                             token=OTHER)).json()["dag_run_id"]
    await api.wait_run("hello", ours)
    async with api.plane.store.begin() as conn:
        # Their DAG is paused, so its run has not started: give it a task instance and an
        # XCom by hand, so that there is something to hide.
        run = await runs.get_run(conn, "secret_dag", theirs)
        await task_instances.create_task_instances(conn, run, [NewTaskInstance("t0")])
        await xcom.put_xcom(conn, dag_run_id=run.id, task_id="t0", key="k", value=42)
        await import_errors.record_import_error(conn, filename="/dags/secret/dag.py",
                                                message="SyntaxError", dag_id="secret_dag")
        await import_errors.record_import_error(conn, filename="/dags/hello/broken.py",
                                                message="NameError: x", dag_id="hello",
                                                stack_trace="Traceback...\nNameError: x")
        await import_errors.record_import_error(conn, filename="/dags/new/dag.py",
                                                message="ImportError: pandas")
    return {"ours": ours, "theirs": theirs}


def run_url(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"


async def test_another_tenants_objects_are_absent(api: Api, world: dict[str, str]) -> None:
    run = run_url("secret_dag", world["theirs"])
    reads = [
        "/api/v2/dags/secret_dag", "/api/v2/dags/secret_dag/details",
        "/api/v2/dags/secret_dag/dagRuns", run, run + "/taskInstances",
        run + "/taskInstances/t0", run + "/taskInstances/t0/-1",
        run + "/taskInstances/t0/tries", run + "/taskInstances/t0/listMapped",
        run + "/taskInstances/t0/xcomEntries", run + "/taskInstances/t0/xcomEntries/k",
        run + "/taskInstances/t0/logs/0", "/api/v2/dagSources/secret_dag",
        "/api/v2/dags/~/dagRuns/their_run/taskInstances",
    ]
    for url in reads:
        response = await api.get(url)
        if url.endswith("/xcomEntries"):  # a listing: empty for an absent run, as Airflow
            assert response.json() == {"xcom_entries": [], "total_entries": 0}
        else:
            assert response.status_code == 404, (url, response.status_code, response.text)
        # And the owner does see them (except what does not exist for anyone).
        if not url.endswith("/listMapped"):
            assert (await api.get(url, token=OTHER)).status_code == 200, url
    writes = [
        ("patch", "/api/v2/dags/secret_dag", {"is_paused": False}),
        ("post", "/api/v2/dags/secret_dag/dagRuns", {"logical_date": None}),
        ("patch", run, {"state": "failed"}),
        ("post", run + "/clear", {"dry_run": False}),
        ("patch", run + "/taskInstances/t0", {"new_state": "success"}),
        ("post", "/api/v2/dags/secret_dag/clearTaskInstances", {"dry_run": False}),
        ("delete", run, None),
        ("delete", "/api/v2/dags/secret_dag", None),
    ]
    for method, url, body in writes:
        kwargs = {"json": body} if body is not None else {}
        response = await getattr(api, method)(url, **kwargs)
        assert response.status_code == 404, (method, url, response.status_code)
    still = await api.get(run, token=OTHER)
    assert still.json()["state"] == "queued"


async def test_listings_only_show_the_callers_tenant(api: Api, world: dict[str, str]) -> None:
    ours = parse("DAGCollectionResponse", (await api.get("/api/v2/dags")).json())
    theirs = parse("DAGCollectionResponse", (await api.get("/api/v2/dags", token=OTHER)).json())
    assert "secret_dag" not in {d.dag_id for d in ours.dags}
    assert [d.dag_id for d in theirs.dags] == ["secret_dag"]
    for url in ("/api/v2/dags/~/dagRuns", "/api/v2/dags/~/dagRuns/~/taskInstances",
                "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries"):
        mine = (await api.get(url, params={"limit": 100})).json()
        assert "secret_dag" not in str(mine), url
        other = (await api.get(url, params={"limit": 100}, token=OTHER)).json()
        assert "hello" not in str(other), url


async def test_import_errors_follow_their_dags_tenant(api: Api, world: dict[str, str]) -> None:
    ours = parse("ImportErrorCollectionResponse", (await api.get("/api/v2/importErrors")).json())
    assert sorted(e.filename for e in ours.import_errors) == [
        "/dags/hello/broken.py", "/dags/new/dag.py"]
    assert ours.total_entries == 2
    theirs = parse("ImportErrorCollectionResponse",
                   (await api.get("/api/v2/importErrors", token=OTHER)).json())
    assert [e.filename for e in theirs.import_errors] == ["/dags/secret/dag.py"]
    hidden = theirs.import_errors[0].import_error_id
    assert (await api.get(f"/api/v2/importErrors/{hidden}")).status_code == 404
    one = ours.import_errors[0]
    got = parse("ImportErrorResponse",
                (await api.get(f"/api/v2/importErrors/{one.import_error_id}")).json())
    assert got.stack_trace.endswith("NameError: x")
    filtered = parse("ImportErrorCollectionResponse", (await api.get(
        "/api/v2/importErrors", params={"filename_pattern": "broken"})).json())
    assert [e.filename for e in filtered.import_errors] == ["/dags/hello/broken.py"]
    ordered = (await api.get("/api/v2/importErrors", params={"order_by": "-filename"})).json()
    assert ordered["import_errors"][0]["filename"] == "/dags/new/dag.py"
    missing = await api.get("/api/v2/importErrors/999999")
    assert missing.json() == {
        "detail": "The ImportError with import_error_id: `999999` was not found"}
    # A DAG with import errors says so, and cannot be triggered (as in Airflow).
    assert (await api.get("/api/v2/dags/hello")).json()["has_import_errors"] is True
    refused = await api.post("/api/v2/dags/hello/dagRuns", json={"logical_date": None})
    assert (refused.status_code, refused.json()) == (400, {
        "detail": "DAG with dag_id: 'hello' has import errors and cannot be triggered"})


@pytest.mark.parametrize(("token", "allowed"), [
    ("viewer-token", set()),
    ("user-token", {"pause", "trigger", "patch_run", "clear_run", "mark", "clear_tis",
                    "delete_run"}),
    ("op-token", {"pause", "trigger", "patch_run", "clear_run", "mark", "clear_tis",
                  "delete_run", "delete_dag"}),
])
async def test_roles_gate_every_write_route(api: Api, world: dict[str, str], token: str,
                                            allowed: set[str]) -> None:
    """Each write is sent with a body that fails validation *after* the permission check
    (or targets nothing), so an allowed role gets a 4xx other than 403 and changes nothing."""
    run = run_url("hello", "no_such_run")
    writes = {
        "pause": ("patch", "/api/v2/dags/nope", {"is_paused": True}),
        "trigger": ("post", "/api/v2/dags/nope/dagRuns", {"logical_date": None}),
        "patch_run": ("patch", run, {"state": "failed"}),
        "clear_run": ("post", run + "/clear", {"dry_run": False}),
        "mark": ("patch", run + "/taskInstances/shout", {"new_state": "success"}),
        "clear_tis": ("post", "/api/v2/dags/nope/clearTaskInstances", {"dry_run": False}),
        "delete_run": ("delete", run, None),
        "delete_dag": ("delete", "/api/v2/dags/nope", None),
    }
    for name, (method, url, body) in writes.items():
        kwargs = {"json": body} if body is not None else {}
        response = await getattr(api, method)(url, token=token, **kwargs)
        if name in allowed:
            assert response.status_code == 404, (name, response.status_code)
        else:
            assert response.status_code == 403, (name, response.status_code)
            assert response.json()["detail"].startswith("role ")


@pytest.mark.parametrize(("method", "url", "kwargs", "status"), [
    ("get", "/api/v2/dags/a%00b", {}, 400),
    ("get", "/api/v2/dags", {"params": {"dag_id_pattern": "x\x00"}}, 400),
    ("get", "/api/v2/dags", {"params": {"paused": "maybe"}}, 422),
    ("get", "/api/v2/dags/~/dagRuns", {"params": {"run_after_gte": "not a date"}}, 422),
    ("get", "/api/v2/dags/~/dagRuns/~/taskInstances", {"params": {"map_index": 2**40}}, 422),
    ("get", "/api/v2/dags/~/dagRuns/~/taskInstances", {"params": {"order_by": "x"}}, 400),
    ("get", "/api/v2/importErrors/99999999999999", {}, 422),
    ("get", "/api/v2/dagSources/hello", {"params": {"version_number": -3}}, 422),
    ("post", "/api/v2/dags/hello/dagRuns", {"content": b"{not json"}, 422),
    ("post", "/api/v2/dags/hello/dagRuns",
     {"json": {"logical_date": None, "conf": {"a": "\x00"}}}, 422),
    ("post", "/api/v2/dags/hello/clearTaskInstances", {"json": {"dag_run_id": "a\x00"}}, 422),
    ("post", "/api/v2/dags/hello/dagRuns",
     {"content": b'{"logical_date": null, "conf": {"a": NaN}}',
      "headers": {"Content-Type": "application/json"}}, 400),
    ("post", "/api/v2/dags/hello/clearTaskInstances",
     {"json": {"task_ids": [["shout", "one"]]}}, 422),
    ("post", "/api/v2/dags/hello/clearTaskInstances",
     {"json": {"start_date": "2026-01-01T00:00:00"}}, 422),
])
async def test_bad_input_is_a_client_error(api: Api, world: dict[str, str], method: str,
                                           url: str, kwargs: dict, status: int) -> None:
    response = await getattr(api, method)(url, **kwargs)
    assert response.status_code == status, response.text
    assert "detail" in response.json()
