"""Deferrals of tasks run by the real Airflow: handed to the control plane, or waited here.

A real ``leoflow-agent`` against the scripted control plane (real gRPC on 127.0.0.1), in the
session's DAG environment holding apache-airflow 3.3.2. A deferral to one of Airflow's
standard triggers the control plane runs (DateTime/TimeDelta, File, Workflow) and a
human-in-the-loop request end the process with a ``deferred`` report carrying the control
plane's trigger; the try started again with the control plane's event (as the scheduler
starts it: ``next_method``, ``next_kwargs`` + ``event``) resumes in the operator's own
``execute_complete`` with the event Airflow's trigger would have given, or, after the
trigger's timeout, into Airflow's ``__fail__``. A trigger class of the user's own still runs
in the task's process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from leoflow.rpc import agent_pb2 as pb
from leoflow.sdk.real_airflow_runtime.handoff import TRIGGER_TIMEOUT_EVENT
from tests.integration.agent.control_plane import ScriptedControlPlane, fetch, run_agent_process

pytestmark = pytest.mark.slow

DAG = """
import datetime
import pendulum
from airflow.sdk import DAG, BaseOperator
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from mytriggers import PingTrigger


class SeeEvent(TimeDeltaSensor):
    def execute_complete(self, context, event=None):
        return {"type": type(event).__name__, "at": event.isoformat()}


class SeeFile(FileSensor):
    def execute_complete(self, context, event=None):
        return {"event": event}


class Ping(BaseOperator):
    def execute(self, context):
        self.defer(trigger=PingTrigger(), method_name="done", kwargs={"asked": "ping"})

    def done(self, context, event=None, asked=None):
        return {"asked": asked, "event": event}


with DAG("demo", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    DateTimeSensorAsync(task_id="later", target_time="2099-01-01T00:00:00+00:00")
    SeeEvent(task_id="delta", delta=datetime.timedelta(days=40000), deferrable=True)
    SeeFile(task_id="file", filepath="inbox/*.csv", deferrable=True, fs_conn_id="local_fs")
    ExternalTaskSensor(task_id="upstream", external_dag_id="other",
                       external_task_id="load", deferrable=True, soft_fail=True,
                       failed_states=["failed"],
                       execution_delta=datetime.timedelta(days=1))
    Ping(task_id="ping")
    HITLOperator(task_id="ask", subject="Ship {{ ds }}?", body="release notes",
                 options=["A", "B"], defaults=["A"], params={"note": "none"},
                 assigned_users=[{"id": "7", "name": "Ann"}],
                 response_timeout=datetime.timedelta(minutes=5))
"""

TRIGGERS = """
import asyncio
from airflow.triggers.base import BaseTrigger, TriggerEvent


class PingTrigger(BaseTrigger):
    def serialize(self):
        return ("mytriggers.PingTrigger", {})

    async def run(self):
        await asyncio.sleep(0.2)
        yield TriggerEvent("pong")
"""

FS = json.dumps({"conn_type": "fs", "extra": {"path": "/data"}})


def _fetch(folder: Path, task_id: str, python: Path, *, resume: dict[str, Any] | None = None,
           operator: str = "python") -> pb.FetchTaskResponse:
    answer = fetch(str(folder), task_id, spec={"runtime": "airflow"}, operator=operator,
                   python=str(python), env={"AIRFLOW_CONN_LOCAL_FS": FS})
    if resume is not None:  # as the scheduler starts a try whose trigger fired
        answer.next_method = resume["next_method"]
        answer.next_kwargs_json = json.dumps(resume["next_kwargs"])
    return answer


async def _run(serve: Any, answer: pb.FetchTaskResponse) -> ScriptedControlPlane:
    servicer = ScriptedControlPlane(answer)
    run = await run_agent_process(await serve(servicer), timeout=120)
    assert run.returncode == 0, run.stderr
    return servicer


def _deferred(servicer: ScriptedControlPlane) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trigger and what the scheduler would store to resume the try."""
    report = servicer.recorded.report
    assert report.state == "deferred", servicer.recorded.lines[-20:]
    return json.loads(report.trigger_json), {"next_method": report.next_method,
                                             "next_kwargs": json.loads(report.next_kwargs_json),
                                             "timeout": report.defer_timeout}


def _resumed(deferral: dict[str, Any], event: Any) -> dict[str, Any]:
    return {**deferral, "next_kwargs": {**deferral["next_kwargs"], "event": event}}


@pytest.fixture
def folder(project, real_airflow) -> Path:
    path = project(DAG)
    (path / "mytriggers.py").write_text(TRIGGERS, "utf-8")
    return path


async def test_time_triggers_go_to_the_control_plane_and_resume_with_the_moment(
        folder: Path, serve: Any, real_airflow: Any) -> None:
    python = real_airflow.python
    later = await _run(serve, _fetch(folder, "later", python, operator="sensor"))
    trigger, deferral = _deferred(later)
    assert trigger == {"kind": "time", "kwargs": {"moment": "2099-01-01T00:00:00+00:00"}}
    assert deferral["next_method"] == "execute_complete"
    log = "\n".join(later.recorded.text())
    assert "Pausing task as DEFERRED" in log and "runs in this task's process" not in log
    # the trigger timed out in the control plane: Airflow's __fail__ decides (a sensor:
    # AirflowSensorTimeout, not retried)
    timed_out = await _run(serve, _fetch(folder, "later", python, operator="sensor",
                                         resume=_resumed(deferral, TRIGGER_TIMEOUT_EVENT)))
    report = timed_out.recorded.report
    assert (report.state, report.error_type, report.no_retry) == (
        "failed", "AirflowSensorTimeout", True), timed_out.recorded.lines[-20:]

    delta = await _run(serve, _fetch(folder, "delta", python, operator="sensor"))
    trigger, deferral = _deferred(delta)
    assert trigger["kind"] == "time"
    moment = trigger["kwargs"]["moment"]
    # the control plane's time event carries when it fired; Airflow's trigger yields its moment
    resumed = await _run(serve, _fetch(folder, "delta", python, operator="sensor",
                                       resume=_resumed(deferral, {"moment": "2000-01-01"})))
    assert resumed.recorded.report.state == "success", resumed.recorded.lines[-20:]
    assert resumed.recorded.pushed["return_value"] == {"type": "DateTime", "at": moment}


async def test_file_and_external_task_triggers_map_to_the_control_planes_kinds(
        folder: Path, serve: Any, real_airflow: Any) -> None:
    python = real_airflow.python
    file = await _run(serve, _fetch(folder, "file", python, operator="sensor"))
    trigger, deferral = _deferred(file)
    # FileSensor joined its connection's base path, as Airflow's FSHook does
    assert trigger == {"kind": "file", "kwargs": {"filepath": "/data/inbox/*.csv",
                                                  "recursive": False, "poke_interval": 60.0}}
    resumed = await _run(serve, _fetch(folder, "file", python, operator="sensor",
                                       resume=_resumed(deferral, {"files": ["/data/a.csv"]})))
    assert resumed.recorded.pushed["return_value"] == {"event": True}  # FileTrigger's event

    upstream = await _run(serve, _fetch(folder, "upstream", python, operator="sensor"))
    trigger, deferral = _deferred(upstream)
    assert trigger["kind"] == "external_task"
    kwargs = trigger["kwargs"]
    assert (kwargs["external_dag_id"], kwargs["external_task_ids"]) == ("other", ["load"])
    assert kwargs["execution_delta"] == 86400.0  # one day before this run's logical date
    assert kwargs["allowed_states"] == ["success"]
    # soft_fail: a failed upstream skips the sensor, as its execute_complete does
    assert (kwargs["failed_states"], kwargs["skipped_states"]) == ([], ["failed"])
    resumed = await _run(serve, _fetch(folder, "upstream", python, operator="sensor",
                                       resume=_resumed(deferral, {"status": "success"})))
    assert resumed.recorded.report.state == "success", resumed.recorded.lines[-20:]
    # its timeout, with soft_fail: Airflow's sensor skips
    timed_out = await _run(serve, _fetch(folder, "upstream", python, operator="sensor",
                                         resume=_resumed(deferral, TRIGGER_TIMEOUT_EVENT)))
    assert timed_out.recorded.report.state == "skipped", timed_out.recorded.lines[-20:]


async def test_a_trigger_class_of_the_users_own_runs_in_the_tasks_process(
        folder: Path, serve: Any, real_airflow: Any) -> None:
    ping = await _run(serve, _fetch(folder, "ping", real_airflow.python))
    assert ping.recorded.report.state == "success", ping.recorded.lines[-20:]
    assert ping.recorded.pushed["return_value"] == {"asked": "ping", "event": "pong"}
    log = "\n".join(ping.recorded.text())
    assert "Trigger class mytriggers.PingTrigger is not one Leoflow's control plane runs" in log


async def test_a_hitl_request_waits_for_an_answer_and_resumes_with_it(
        folder: Path, serve: Any, real_airflow: Any) -> None:
    python = real_airflow.python
    ask = await _run(serve, _fetch(folder, "ask", python))
    trigger, deferral = _deferred(ask)
    assert trigger["kind"] == "hitl"
    request = trigger["kwargs"]
    assert {k: request[k] for k in ("subject", "body", "options", "defaults", "multiple",
                                    "assigned_users")} == {
        "subject": "Ship 2024-03-05?", "body": "release notes", "options": ["A", "B"],
        "defaults": ["A"], "multiple": False, "assigned_users": [{"id": "7", "name": "Ann"}]}
    assert request["params"]["note"]["value"] == "none"
    assert request["timeout_datetime"] and deferral["timeout"] == 300.0
    answer = {"chosen_options": ["B"], "params_input": {"note": "go"},
              "responded_at": "2026-03-05T10:00:00+00:00",
              "responded_by_user": {"id": "7", "name": "Ann"}, "timedout": False}
    resumed = await _run(serve, _fetch(folder, "ask", python,
                                       resume=_resumed(deferral, answer)))
    assert resumed.recorded.report.state == "success", resumed.recorded.lines[-20:]
    value = resumed.recorded.pushed["return_value"]
    assert (value["chosen_options"], value["params_input"], value["responded_by_user"]) == (
        ["B"], {"note": "go"}, {"id": "7", "name": "Ann"})
    # the operator read responded_at as a datetime (it calls isoformat() on it)
    assert value["responded_at"]["__classname__"] == "datetime.datetime"

    timeout = {"error": "no answer", "error_type": "timeout"}
    failed = await _run(serve, _fetch(folder, "ask", python,
                                      resume=_resumed(deferral, timeout)))
    report = failed.recorded.report
    assert (report.state, report.error_type) == ("failed", "HITLTimeoutError")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
