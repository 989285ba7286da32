"""/api/v2 task instances, tries, XCom, logs and DAG source, on real runs of the examples
(hello, dynamic_mapping, retries) and of a small DAG that writes its log slowly."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio

from tests.integration.api.client_models import parse
from tests.integration.api.conftest import Api, headers

pytestmark = pytest.mark.asyncio(loop_scope="module")

SLOW_DAG = '''
from datetime import datetime

from leoflow import DAG, BashOperator

with DAG(dag_id="slow_echo", schedule=None, start_date=datetime(2026, 1, 1)):
    BashOperator(task_id="talk",
                 bash_command="echo first; sleep 0.8; echo second; sleep 0.3; echo third")
    BashOperator(task_id="linger", bash_command="echo begin; sleep 4; echo end")
'''


def tis(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"


async def trigger(api: Api, dag_id: str, **body: Any) -> str:
    response = await api.post(f"/api/v2/dags/{dag_id}/dagRuns",
                              json={"logical_date": None, **body})
    assert response.status_code == 200, response.text
    return response.json()["dag_run_id"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runs(api: Api, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One finished run of hello, dynamic_mapping and retries (run at the same time)."""
    for name in ("hello", "dynamic_mapping", "retries"):
        await api.register_example(name)
    project = tmp_path_factory.mktemp("slow_echo")
    (project / "dag.py").write_text(textwrap.dedent(SLOW_DAG), "utf-8")
    (project / "leoflow.yaml").write_text("dag_id: slow_echo\ndependencies: []\n", "utf-8")
    await api.register_project(Path(project))
    started = {name: await trigger(api, name)
               for name in ("hello", "dynamic_mapping", "retries")}
    for name, run_id in started.items():
        assert (await api.wait_run(name, run_id))["state"] == "success", name
    return started


async def test_list_a_runs_task_instances(api: Api, runs: dict[str, str]) -> None:
    response = await api.get(tis("hello", runs["hello"]))
    page = parse("TaskInstanceCollectionResponse", response.json())
    assert page.total_entries == 2
    by_task = {t.task_id: t for t in page.task_instances}
    shout = by_task["shout"]
    uuid.UUID(str(shout.id))
    assert shout.state == "success" and shout.try_number == 1 and shout.max_tries == 0
    assert shout.map_index == -1 and shout.dag_run_id == runs["hello"]
    assert shout.executor_config == "{}" and shout.pool == "default_pool"
    assert shout.pool_slots == 1 and shout.queue == "default"
    assert shout.operator == "PythonDecoratedOperator"
    assert shout.task_display_name == "shout" and shout.dag_display_name == "hello"
    assert shout.dag_version.version_number == 1
    assert shout.start_date <= shout.end_date and shout.duration >= 0
    assert shout.hostname and shout.pid
    raw = response.json()["task_instances"][0]
    assert raw["run_after"].endswith("Z") and raw["start_date"].endswith("Z")


async def test_list_across_dags_and_runs(api: Api, runs: dict[str, str]) -> None:
    every = parse("TaskInstanceCollectionResponse", (await api.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances", params={"limit": 100})).json())
    assert {t.dag_id for t in every.task_instances} == {"hello", "dynamic_mapping", "retries"}
    # Mapped tasks appear once per map index.
    thumbs = [t for t in every.task_instances if t.task_id == "thumbnail"]
    assert sorted(t.map_index for t in thumbs) == list(range(6))
    by_run = parse("TaskInstanceCollectionResponse", (await api.get(
        tis("~", runs["retries"]))).json())
    assert {t.dag_id for t in by_run.task_instances} == {"retries"}
    filtered = parse("TaskInstanceCollectionResponse", (await api.get(
        "/api/v2/dags/dynamic_mapping/dagRuns/~/taskInstances",
        params={"task_id": "thumbnail", "map_index": [0, 5], "state": "success"})).json())
    assert sorted(t.map_index for t in filtered.task_instances) == [0, 5]
    paged = parse("TaskInstanceCollectionResponse", (await api.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances", params={"limit": 2, "offset": 1})).json())
    assert len(paged.task_instances) == 2 and paged.total_entries == every.total_entries
    nothing = parse("TaskInstanceCollectionResponse", (await api.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances", params={"state": "no_status"})).json())
    assert nothing.total_entries == 0
    missing = await api.get(tis("hello", "nope"))
    assert (missing.status_code, missing.json()) == (
        404, {"detail": "DagRun with run_id: `nope` was not found"})


async def test_get_one_and_mapped_instances(api: Api, runs: dict[str, str]) -> None:
    base = tis("dynamic_mapping", runs["dynamic_mapping"])
    summary = parse("TaskInstanceResponse", (await api.get(base + "/summary")).json())
    assert summary.map_index == -1 and summary.state == "success"
    also = parse("TaskInstanceResponse", (await api.get(base + "/summary/-1")).json())
    assert also.id == summary.id
    mapped = await api.get(base + "/thumbnail")
    assert (mapped.status_code, mapped.json()) == (
        404, {"detail": "Task instance is mapped, add the map_index value to the URL"})
    third = parse("TaskInstanceResponse", (await api.get(base + "/thumbnail/2")).json())
    assert third.map_index == 2 and third.task_id == "thumbnail"
    listed = parse("TaskInstanceCollectionResponse",
                   (await api.get(base + "/load_table/listMapped")).json())
    assert [t.map_index for t in listed.task_instances] == [0, 1, 2]
    unmapped = await api.get(base + "/summary/listMapped")
    assert unmapped.json() == {"detail": "Task id summary is not mapped"}
    absent = await api.get(base + "/thumbnail/99")
    assert absent.status_code == 404
    assert (await api.get(base + "/thumbnail/" + str(2**40))).status_code == 422


async def test_tries_of_a_retried_task(api: Api, runs: dict[str, str]) -> None:
    base = tis("retries", runs["retries"]) + "/unreliable_call"
    response = await api.get(base + "/tries")
    tries = parse("TaskInstanceHistoryCollectionResponse", response.json())
    assert [t.try_number for t in tries.task_instances] == [1, 2, 3]
    assert [t.state for t in tries.task_instances] == ["up_for_retry", "up_for_retry",
                                                      "success"]
    assert all(t.max_tries == 2 and t.executor_config == "{}" for t in tries.task_instances)
    second = parse("TaskInstanceHistoryResponse", (await api.get(base + "/tries/2")).json())
    assert second.try_number == 2
    assert (await api.get(base + "/tries/7")).status_code == 404
    same = parse("TaskInstanceHistoryCollectionResponse",
                 (await api.get(base + "/-1/tries")).json())
    assert same.total_entries == 3


async def test_xcom_entries(api: Api, runs: dict[str, str]) -> None:
    base = tis("hello", runs["hello"])
    listed = parse("XComCollectionResponse",
                   (await api.get(base + "/make_greeting/xcomEntries")).json())
    assert [(e.key, e.task_id, e.map_index) for e in listed.xcom_entries] == [
        ("return_value", "make_greeting", -1)]
    response = await api.get(base + "/make_greeting/xcomEntries/return_value",
                             params={"map_index": -1})
    entry = parse("ResponseGetXcomEntry", response.json()).actual_instance
    assert entry.value == "Hello, Leoflow!" and entry.run_id == runs["hello"]
    assert response.json()["timestamp"].endswith("Z")
    mapped = tis("dynamic_mapping", runs["dynamic_mapping"])
    summary = (await api.get(mapped + "/summary/xcomEntries/return_value")).json()
    assert summary["value"] == {"thumbnails": 6, "rows_loaded": 177}
    parse("XComResponseNative", summary)
    as_text = (await api.get(mapped + "/summary/xcomEntries/return_value",
                             params={"stringify": "true"})).json()
    assert as_text["value"] == str({"thumbnails": 6, "rows_loaded": 177})
    parse("XComResponseString", as_text)
    third = (await api.get(mapped + "/thumbnail/xcomEntries/return_value",
                           params={"map_index": 2})).json()
    assert third["value"] == "cat_256w.png" and third["map_index"] == 2
    every = parse("XComCollectionResponse", (await api.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries",
        params={"limit": 100})).json())
    assert {e.dag_id for e in every.xcom_entries} == {"hello", "dynamic_mapping", "retries"}
    page = parse("XComCollectionResponse", (await api.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries",
        params={"limit": 3, "offset": 2})).json())
    assert page.total_entries == every.total_entries
    assert [e.to_dict() for e in page.xcom_entries] == \
        [e.to_dict() for e in every.xcom_entries[2:5]]
    missing = await api.get(base + "/make_greeting/xcomEntries/nope")
    assert (missing.status_code, missing.json()) == (
        404, {"detail": "XCom entry with key: `nope` not found"})


async def test_logs_of_a_finished_try(api: Api, runs: dict[str, str]) -> None:
    base = tis("hello", runs["hello"]) + "/shout/logs/1"
    response = await api.get(base, params={"full_content": "true", "map_index": -1})
    logs = parse("TaskInstancesLogResponse", response.json())
    events = [m.event for m in logs.content.actual_instance]
    assert "HELLO, LEOFLOW!" in events
    assert logs.continuation_token is None  # the try is over
    first = response.json()["content"][0]
    assert first["timestamp"].endswith("Z") and first["level"] in ("info", "error")
    ndjson = await api.get(base, headers={"Accept": "application/x-ndjson"})
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [line["event"] for line in lines] == events
    assert "airflow-continuation-token" not in ndjson.headers
    plain = await api.get(base, headers={"Accept": "text/plain"})
    assert (plain.status_code, plain.json()) == (
        400, {"detail": "Only application/json or application/x-ndjson is supported"})
    download = await api.get(base, params={"download": "true"})
    assert "HELLO, LEOFLOW!\n" in download.text
    absent = await api.get(tis("hello", runs["hello"]) + "/shout/logs/4")
    assert (absent.status_code, absent.json()) == (404, {"detail": "TaskInstance not found"})
    forged = await api.get(base, params={"token": "not-a-token"})
    assert forged.status_code == 400 and forged.json()["detail"].startswith("Bad Signature")


async def _wait_running(api: Api, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (await api.get(url)).json().get("state") != "running":
        assert time.monotonic() < deadline, "the task never ran"
        await asyncio.sleep(0.02)


async def test_tail_a_running_try_with_the_continuation_token(api: Api,
                                                             runs: dict[str, str]) -> None:
    run_id = await trigger(api, "slow_echo")
    ti = tis("slow_echo", run_id) + "/talk"
    await _wait_running(api, ti)
    seen: list[str] = []
    token = None
    deadline = time.monotonic() + 60
    while True:
        response = await api.get(ti + "/logs/1", params={"token": token} if token else {})
        body = response.json()
        seen += [m["event"] for m in body["content"]]
        token = body["continuation_token"]
        if token is None:
            break
        assert time.monotonic() < deadline, "the try never ended"
        await asyncio.sleep(0.05)
    said = [e for e in seen if e in ("first", "second", "third")]
    assert said == ["first", "second", "third"]  # each line once, in order


async def test_stream_a_running_try_as_ndjson(api: Api, runs: dict[str, str]) -> None:
    run_id = await trigger(api, "slow_echo")
    ti = tis("slow_echo", run_id) + "/talk"
    await _wait_running(api, ti)
    # follow=true (Leoflow's) streams each line as written until the try ends.
    async with api.client.stream("GET", ti + "/logs/1", params={"follow": "true"}, headers={
            "Accept": "application/x-ndjson", **headers("admin-token")}) as stream:
        assert "airflow-continuation-token" in stream.headers
        events = [json.loads(line)["event"] async for line in stream.aiter_lines() if line]
    assert [e for e in events if e in ("first", "second", "third")] == [
        "first", "second", "third"]
    # The stream ends when the try closes its log, just before it reports its state.
    assert (await api.wait_run("slow_echo", run_id))["state"] == "success"


async def test_ndjson_of_a_running_try_ends_with_what_is_written(api: Api,
                                                                runs: dict[str, str]) -> None:
    """Airflow's answer, which its UI needs to show a running task's log: the lines written so
    far, and the answer ends while the try still runs (the UI asks again every 3 s and renders
    an answer only once it has ended)."""
    run_id = await trigger(api, "slow_echo")
    ti = tis("slow_echo", run_id) + "/linger"
    await _wait_running(api, ti)
    deadline = time.monotonic() + 30
    now: list[str] = []
    while "begin" not in now:  # the first line may reach the log store just after 'running'
        assert time.monotonic() < deadline, now
        async with api.client.stream("GET", ti + "/logs/1", headers={
                "Accept": "application/x-ndjson", **headers("admin-token")}) as stream:
            assert "airflow-continuation-token" in stream.headers  # the try may write more
            now = [json.loads(line)["event"] async for line in stream.aiter_lines() if line]
    assert "end" not in now
    assert (await api.get(ti)).json()["state"] == "running"
    assert (await api.wait_run("slow_echo", run_id))["state"] == "success"
    finished = await api.get(ti + "/logs/1", headers={"Accept": "application/x-ndjson"})
    assert "airflow-continuation-token" not in finished.headers
    assert [json.loads(line)["event"] for line in finished.text.splitlines()
            if json.loads(line)["event"] in ("begin", "end")] == ["begin", "end"]


async def test_dag_source_by_version(api: Api, runs: dict[str, str]) -> None:
    source = api.registered["hello"]
    response = await api.get("/api/v2/dagSources/hello", params={"version_number": 1})
    body = parse("DAGSourceResponse", response.json())
    assert body.version_number == 1 and "def make_greeting" in body.content
    assert body.dag_display_name == "hello"
    plain = await api.get("/api/v2/dagSources/hello", headers={"Accept": "text/plain"})
    assert plain.text == body.content
    assert source["dag_id"] == "hello"
    missing = await api.get("/api/v2/dagSources/hello", params={"version_number": 9})
    assert (missing.status_code, missing.json()) == (404, {
        "detail": "The source code of the DAG hello, version_number 9 was not found"})
    assert (await api.get("/api/v2/dagSources/hello",
                          headers={"Accept": "image/png"})).status_code == 406


async def test_mark_task_instances(api: Api, runs: dict[str, str]) -> None:
    run_id = await trigger(api, "hello")
    await api.wait_run("hello", run_id)
    base = tis("hello", run_id)
    marked = await api.patch(base + "/make_greeting", json={
        "new_state": "failed", "include_downstream": True}, token="user-token")
    assert marked.status_code == 200, marked.text
    page = parse("TaskInstanceCollectionResponse", marked.json())
    assert [(t.task_id, t.state) for t in page.task_instances] == [("make_greeting", "failed")]
    assert (await api.get(base + "/shout")).json()["state"] == "failed"
    again = await api.patch(base + "/make_greeting", json={"new_state": "failed"})
    assert (again.status_code, again.json()) == (
        409, {"detail": "Task id make_greeting is already in failed state"})
    dry = parse("TaskInstanceCollectionResponse", (await api.patch(
        base + "/shout/dry_run", json={"new_state": "success"})).json())
    assert [(t.task_id, t.state) for t in dry.task_instances] == [("shout", "failed")]
    assert (await api.get(base + "/shout")).json()["state"] == "failed"
    noted = parse("TaskInstanceCollectionResponse", (await api.patch(
        base + "/shout/-1", params={"update_mask": "note"},
        json={"note": "checked", "new_state": "success"})).json())
    assert noted.task_instances[0].note == "checked"
    assert noted.task_instances[0].state == "failed"  # masked out
    for body in ({"new_state": "running"}, {"new_state": "success", "extra": 1}):
        assert (await api.patch(base + "/shout", json=body)).status_code == 422
    assert (await api.patch(base + "/shout", json={"new_state": "success"},
                            token="viewer-token")).status_code == 403
    assert (await api.patch(base + "/nope", json={"new_state": "success"})
            ).status_code == 404


async def test_clear_task_instances_with_its_options(api: Api, runs: dict[str, str]) -> None:
    run_id = await trigger(api, "dynamic_mapping")
    await api.wait_run("dynamic_mapping", run_id)
    url = "/api/v2/dags/dynamic_mapping/clearTaskInstances"
    # What the official client sends by default: a dry run of the failed instances.
    defaults = {"dry_run": True, "only_failed": True, "reset_dag_runs": True,
                "include_upstream": False, "include_downstream": False,
                "include_future": False, "include_past": False, "only_running": False,
                "prevent_running_task": False, "dag_run_id": run_id}
    nothing = parse("TaskInstanceCollectionResponse", (await api.post(url,
                                                                      json=defaults)).json())
    assert nothing.total_entries == 0
    chosen = {**defaults, "only_failed": False,
              "task_ids": ["plan_loads", ["thumbnail", 1], ["thumbnail", 4]]}
    dry = parse("TaskInstanceCollectionResponse", (await api.post(url, json=chosen)).json())
    assert sorted((t.task_id, t.map_index) for t in dry.task_instances) == [
        ("plan_loads", -1), ("thumbnail", 1), ("thumbnail", 4)]
    downstream = parse("TaskInstanceCollectionResponse", (await api.post(url, json={
        **chosen, "task_ids": ["plan_loads"], "include_downstream": True})).json())
    assert sorted({t.task_id for t in downstream.task_instances}) == [
        "load_table", "plan_loads", "summary"]
    cleared = await api.post(url, json={**chosen, "dry_run": False}, token="user-token")
    assert cleared.status_code == 200
    assert sorted((t["task_id"], t["map_index"], t["state"])
                  for t in cleared.json()["task_instances"]) == [
        ("plan_loads", -1, None), ("thumbnail", 1, None), ("thumbnail", 4, None)]
    assert (await api.wait_run("dynamic_mapping", run_id))["state"] == "success"
    base = tis("dynamic_mapping", run_id)
    assert (await api.get(base + "/thumbnail/1")).json()["try_number"] == 2
    assert (await api.get(base + "/thumbnail/0")).json()["try_number"] == 1
    past = await api.post(url, json={**chosen, "include_past": True})
    assert past.status_code == 400  # a manual run has no logical date
    unknown_run = await api.post(url, json={**chosen, "dag_run_id": "nope"})
    assert (unknown_run.status_code, unknown_run.json()) == (
        404, {"detail": "Dag Run id nope not found in dag dynamic_mapping"})
    assert (await api.post(url, json={**chosen, "task_ids": []})).status_code == 422
    assert (await api.post(url, json=chosen, token="viewer-token")).status_code == 403
