"""Sensors and deferral through the real agent and a real user process.

The agent talks gRPC to the scripted control plane (a real server on 127.0.0.1), starts the
task runner in the DAG's interpreter, and reports: success with the poke's XCom, a sensor
timeout, ``up_for_reschedule`` with the next poke's date, ``deferred`` with the trigger and
how to resume, and the resumed try calling ``next_method`` or replaying a ``@task``.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from leoflow.rpc import agent_pb2 as pb
from tests.integration.agent.control_plane import ScriptedControlPlane, fetch, run_agent_process

DAG = """
import json, os, pathlib
from datetime import timedelta
from leoflow import (DAG, task, defer, BaseOperator, BaseSensorOperator, PythonSensor,
                     BashSensor, FileSensor, HttpSensor, DateTimeSensor, PokeReturnValue,
                     TimeDeltaTrigger,
                     FileTrigger)

COUNTER = pathlib.Path(os.environ.get("COUNTER_FILE", "/nonexistent"))

def third_time_lucky():
    n = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(n))
    print(f"poke {n}")
    return n >= 3

class Waiter(BaseOperator):
    template_fields = ("path",)

    def __init__(self, *, path, **kwargs):
        super().__init__(**kwargs)
        self.path = path

    def execute(self, context):
        print("deferring on", self.path)
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=30)), method_name="done",
                   kwargs={"path": self.path}, timeout=timedelta(minutes=2))

    def done(self, context, event, path):
        return {"path": path, "event": event, "ds": context["ds"]}

class Render(BaseOperator):
    template_fields = ("path",)

    def __init__(self, *, path, **kwargs):
        super().__init__(**kwargs)
        self.path = path

    def execute(self, context):
        return self.path

class Landed(BaseSensorOperator):
    # Airflow's deferrable-sensor shape: execute defers, execute_complete gets the event

    def execute(self, context):
        self.defer(trigger=FileTrigger(filepath="/in/*.csv", poke_interval=1),
                   method_name="execute_complete", timeout=self.timeout)

    def execute_complete(self, context, event=None):
        return event["files"]

with DAG("demo") as dag:
    Landed(task_id="landed", timeout=30)
    PythonSensor(task_id="poker", python_callable=third_time_lucky, poke_interval=0.1)
    PythonSensor(task_id="never", python_callable=lambda: False, poke_interval=0.1,
                 timeout=0.5)
    PythonSensor(task_id="never_soft", python_callable=lambda: False, poke_interval=0.1,
                 timeout=0.3, soft_fail=True)
    PythonSensor(task_id="resched", python_callable=lambda: False, poke_interval=45,
                 mode="reschedule", timeout=600)
    PythonSensor(task_id="broken", python_callable=lambda: 1 / 0, retries=2)
    BashSensor(task_id="bash", bash_command="test -f {{ params.x }}.flag", poke_interval=0.1,
               timeout=5, deferrable=True)

    @task.sensor(poke_interval=0.1, timeout=10)
    def counted(limit):
        n = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
        COUNTER.write_text(str(n))
        return PokeReturnValue(is_done=n >= limit, xcom_value={"pokes": n})
    counted(2)

    FileSensor(task_id="file_tpl", filepath="/data/{{ ds }}/*.csv", deferrable=True,
               poke_interval=3, timeout=90)
    FileSensor(task_id="file_poke", filepath=os.environ.get("WATCHED", "/nonexistent"),
               poke_interval=0.1, timeout=10)
    HttpSensor(task_id="http", url=os.environ.get("HTTP_URL", "http://127.0.0.1:9/"),
               poke_interval=0.1, timeout=10,
               response_check=lambda response: response.json()["ready"])
    DateTimeSensor.partial(task_id="mapped_time", timeout=60).expand(
        target_time=["2030-01-01T00:00:00+00:00"])
    Waiter(task_id="waiter", path="/in/{{ ds_nodash }}")
    Render(task_id="render", path="{{ params.x }}-{{ ds }}")

    @task
    def two_waits():
        print("start of two_waits")
        first = defer(TimeDeltaTrigger(timedelta(seconds=5)))
        second = defer(FileTrigger(filepath="/in/ready"), timeout=60)
        return {"first": first, "second": second}
    two_waits()
"""


def sensor_fetch(folder, task_id: str, *, next_method: str = "", next_kwargs: dict | None = None,
                 first_poke_at: float = 0.0, **kwargs) -> pb.FetchTaskResponse:
    response = fetch(str(folder), task_id, operator=kwargs.pop("operator", "sensor"), **kwargs)
    response.next_method = next_method
    response.next_kwargs_json = json.dumps(next_kwargs) if next_kwargs is not None else ""
    response.first_poke_at = first_poke_at
    return response


async def run_one(serve, response: pb.FetchTaskResponse, **extra) -> ScriptedControlPlane:
    servicer = ScriptedControlPlane(response, **extra)
    address = await serve(servicer)
    run = await run_agent_process(address)
    assert run.returncode == 0, run.stderr
    return servicer


async def test_poke_mode_loops_in_the_process_until_done(project, serve, tmp_path, monkeypatch):
    folder = project(DAG)
    counter = tmp_path / "count"
    servicer = await run_one(serve, sensor_fetch(folder, "poker",
                                                 env={"COUNTER_FILE": str(counter)}))
    assert servicer.recorded.report.state == "success"
    assert counter.read_text() == "3"
    assert servicer.recorded.text("stdout")[:3] == ["poke 1", "poke 2", "poke 3"]
    assert servicer.recorded.pushed == {}  # a plain True pushes no XCom


async def test_task_sensor_poke_return_value_becomes_the_xcom(project, serve, tmp_path):
    folder = project(DAG)
    servicer = await run_one(serve, sensor_fetch(
        folder, "counted", args=[2], env={"COUNTER_FILE": str(tmp_path / "c")},
        spec={"callable": "counted"}))
    assert servicer.recorded.report.state == "success"
    assert servicer.recorded.pushed == {"return_value": {"pokes": 2}}


async def test_timeout_fails_without_retry_and_soft_fail_skips(project, serve):
    folder = project(DAG)
    servicer = await run_one(serve, sensor_fetch(folder, "never"))
    report = servicer.recorded.report
    assert (report.state, report.error_type, report.no_retry) == (
        "failed", "AirflowSensorTimeout", True)
    assert "exceeds the specified timeout of 0.5" in report.error_message
    soft = await run_one(serve, sensor_fetch(folder, "never_soft"))
    assert soft.recorded.report.state == "skipped"


async def test_a_raising_poke_fails_the_try_so_retries_apply(project, serve):
    servicer = await run_one(serve, sensor_fetch(project(DAG), "broken"))
    report = servicer.recorded.report
    assert (report.state, report.error_type, report.no_retry) == (
        "failed", "ZeroDivisionError", False)


async def test_reschedule_mode_reports_up_for_reschedule_and_ends_the_process(project, serve):
    folder = project(DAG)
    before = time.time()
    servicer = await run_one(serve, sensor_fetch(folder, "resched"))
    report = servicer.recorded.report
    assert report.state == "up_for_reschedule"
    assert before + 45 <= report.reschedule_date <= time.time() + 45
    assert any("up_for_reschedule (next poke at" in line
               for line in servicer.recorded.text("agent"))
    # the same try, poked again after its timeout (first poke 700 s ago): no retry
    late = await run_one(serve, sensor_fetch(folder, "resched",
                                             first_poke_at=time.time() - 700))
    assert (late.recorded.report.state, late.recorded.report.error_type) == (
        "failed", "AirflowSensorTimeout")


async def test_deferrable_bash_sensor_pokes_in_reschedule_mode_with_its_template_rendered(
        project, serve):
    folder = project(DAG)
    servicer = await run_one(serve, sensor_fetch(
        folder, "bash", kwargs={"bash_command": "test -f {{ params.x }}.flag"},
        spec={"inputs": {"args": [], "kwargs": {
            "bash_command": {"literal": "test -f {{ params.x }}.flag"}}}}))
    assert servicer.recorded.report.state == "up_for_reschedule"
    (folder / "px.flag").write_text("")
    done = await run_one(serve, sensor_fetch(
        folder, "bash", kwargs={"bash_command": "test -f {{ params.x }}.flag"},
        first_poke_at=time.time() - 1,
        spec={"inputs": {"args": [], "kwargs": {
            "bash_command": {"literal": "test -f {{ params.x }}.flag"}}}}))
    assert done.recorded.report.state == "success"


async def test_file_sensor_poke_mode_sees_a_file_appear(project, serve, tmp_path):
    folder = project(DAG)
    watched = tmp_path / "landing" / "data.csv"
    watched.parent.mkdir()

    def land() -> None:
        time.sleep(0.5)
        watched.write_text("a,b\n")

    threading.Thread(target=land, daemon=True).start()
    servicer = await run_one(serve, sensor_fetch(
        folder, "file_poke", env={"WATCHED": str(watched.parent / "*.csv")},
        kwargs={"filepath": str(watched.parent / "*.csv")}))
    assert servicer.recorded.report.state == "success"
    assert f"Found File {watched}" in servicer.recorded.text("stdout")


@pytest.fixture
def ready_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server on 127.0.0.1 answering 503, then {"ready": false}, then ready."""
    hits: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            if len(hits) == 1:
                self.send_response(503)
                self.end_headers()
                return
            body = json.dumps({"ready": len(hits) >= 3}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ready", hits
    finally:
        server.shutdown()
        server.server_close()


async def test_http_sensor_waits_for_its_response_check(project, serve, ready_server):
    url, hits = ready_server
    servicer = await run_one(serve, sensor_fetch(project(DAG), "http", env={"HTTP_URL": url},
                                                 kwargs={"url": url}))
    assert servicer.recorded.report.state == "success"
    assert len(hits) == 3
    assert "HTTP 503: still waiting" in servicer.recorded.text("stdout")


async def test_templated_deferrable_file_sensor_renders_then_defers(project, serve):
    servicer = await run_one(serve, sensor_fetch(
        project(DAG), "file_tpl", kwargs={"filepath": "/data/{{ ds }}/*.csv"},
        spec={"inputs": {"args": [], "kwargs": {
            "filepath": {"literal": "/data/{{ ds }}/*.csv"}}}}))
    report = servicer.recorded.report
    assert report.state == "deferred"
    assert json.loads(report.trigger_json) == {"kind": "file", "kwargs": {
        "filepath": "/data/2024-03-05/*.csv", "recursive": False, "poke_interval": 3.0}}
    assert report.next_method == "execute_complete"
    assert report.defer_timeout == 90.0
    resumed = await run_one(serve, sensor_fetch(
        project(DAG), "file_tpl", next_method="execute_complete",
        next_kwargs={"event": {"files": ["/data/2024-03-05/a.csv"]}}))
    assert resumed.recorded.report.state == "success"


async def test_a_mapped_time_sensor_defers_to_its_own_moment(project, serve):
    response = sensor_fetch(project(DAG), "mapped_time",
                            kwargs={"target_time": "2030-01-01T00:00:00+00:00"})
    response.map_index = 0
    servicer = await run_one(serve, response)
    report = servicer.recorded.report
    assert report.state == "deferred"
    assert json.loads(report.trigger_json) == {
        "kind": "time", "kwargs": {"moment": "2030-01-01T00:00:00+00:00"}}


async def test_operator_defer_reports_trigger_and_resume_calls_next_method(project, serve):
    folder = project(DAG)
    spec = {"inputs": {"args": [], "kwargs": {"path": {"literal": "/in/{{ ds_nodash }}"}}}}
    servicer = await run_one(serve, sensor_fetch(
        folder, "waiter", operator="python", kwargs={"path": "/in/{{ ds_nodash }}"},
        spec=spec))
    report = servicer.recorded.report
    assert report.state == "deferred"
    trigger = json.loads(report.trigger_json)
    assert trigger["kind"] == "time" and list(trigger["kwargs"]) == ["moment"]
    assert report.next_method == "done"
    assert json.loads(report.next_kwargs_json) == {"path": "/in/20240305"}
    assert report.defer_timeout == 120.0
    assert "deferring on /in/20240305" in servicer.recorded.text("stdout")
    assert servicer.recorded.pushed == {}
    event = {"moment": trigger["kwargs"]["moment"]}
    resumed = await run_one(serve, sensor_fetch(
        folder, "waiter", operator="python", next_method="done",
        next_kwargs={"path": "/in/20240305", "event": event}, spec=spec,
        kwargs={"path": "/in/{{ ds_nodash }}"}))
    assert resumed.recorded.report.state == "success"
    assert resumed.recorded.pushed["return_value"] == {
        "path": "/in/20240305", "event": event, "ds": "2024-03-05"}
    # execute did not run again
    assert "deferring on /in/20240305" not in resumed.recorded.text("stdout")


async def test_custom_operator_execute_runs_with_its_template_fields_rendered(project, serve):
    servicer = await run_one(serve, sensor_fetch(
        project(DAG), "render", operator="python", kwargs={"path": "{{ params.x }}-{{ ds }}"},
        spec={"inputs": {"args": [], "kwargs": {
            "path": {"literal": "{{ params.x }}-{{ ds }}"}}}}))
    assert servicer.recorded.report.state == "success"
    assert servicer.recorded.pushed == {"return_value": "px-2024-03-05"}


async def test_task_defer_replays_the_function_with_earlier_events(project, serve):
    folder = project(DAG)

    async def attempt(next_method: str = "", next_kwargs: dict | None = None):
        return (await run_one(serve, sensor_fetch(
            folder, "two_waits", operator="python", next_method=next_method,
            next_kwargs=next_kwargs, spec={"callable": "two_waits"}))).recorded

    first = await attempt()
    assert first.report.state == "deferred"
    assert first.report.next_method == "__replay__"
    assert json.loads(first.report.next_kwargs_json) == {"events": []}
    assert json.loads(first.report.trigger_json)["kind"] == "time"
    assert first.report.defer_timeout == 0.0
    second = await attempt("__replay__", {"events": [], "event": {"moment": "m1"}})
    assert second.report.state == "deferred"
    assert json.loads(second.report.trigger_json) == {"kind": "file", "kwargs": {
        "filepath": "/in/ready", "recursive": False, "poke_interval": 5.0}}
    assert json.loads(second.report.next_kwargs_json) == {"events": [{"moment": "m1"}]}
    assert second.report.defer_timeout == 60.0
    third = await attempt("__replay__", {"events": [{"moment": "m1"}],
                                         "event": {"files": ["/in/ready"]}})
    assert third.report.state == "success"
    assert third.pushed["return_value"] == {"first": {"moment": "m1"},
                                            "second": {"files": ["/in/ready"]}}
    # the code before the first defer ran once per process: the docs say so
    assert third.text("stdout").count("start of two_waits") == 1


async def test_a_sensor_subclass_defers_in_execute_and_completes_with_the_event(project,
                                                                                 serve):
    folder = project(DAG)
    servicer = await run_one(serve, sensor_fetch(folder, "landed"))
    report = servicer.recorded.report
    assert (report.state, report.next_method, report.defer_timeout) == (
        "deferred", "execute_complete", 30.0)
    assert json.loads(report.trigger_json)["kwargs"]["filepath"] == "/in/*.csv"
    done = await run_one(serve, sensor_fetch(folder, "landed", next_method="execute_complete",
                                             next_kwargs={"event": {"files": ["/in/a.csv"]}}))
    assert done.recorded.report.state == "success"
    assert done.recorded.pushed == {"return_value": ["/in/a.csv"]}

