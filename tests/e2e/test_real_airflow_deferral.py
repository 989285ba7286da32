"""Real-Airflow deferrals wait in the control plane, as Airflow's do in its triggerer.

A DAG whose environment holds apache-airflow 3.3.2 (the session's ``real_airflow``), compiled
with that interpreter and run on a real control plane (scheduler, subprocess executor, real
``leoflow-agent`` per try, Airflow's own task runner). What a user would see:

* a ``DateTimeSensorAsync`` shows ``deferred`` while its moment is ahead, with the control
  plane's trigger runner waiting (its ``trigger:`` lines in the try's log) and no process;
  it succeeds, in the same try, once the moment passes;
* an ``HITLOperator`` shows ``awaiting_input``; an answer through ``PATCH
  /api/v2/.../hitlDetails`` resumes it into Airflow's ``execute_complete``, whose XCom holds
  the chosen option;
* an ``ApprovalOperator`` nobody answers takes its defaults at its response timeout, and its
  downstream task runs.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from leoflow import __version__
from leoflow.engine.api import ApiContext, create_api
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.store import task_instances
from tests.e2e.harness import Harness, Projects, open_plane
from tests.integration.real_auth import auth_service, authorization, enroll

pytestmark = pytest.mark.slow

DAG = '''
import datetime
import pendulum
from airflow.sdk import DAG, task
from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync

with DAG("real_waits", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    DateTimeSensorAsync(
        task_id="later",
        target_time="{{ (macros.datetime.now(macros.dateutil.tz.UTC)"
                    " + macros.timedelta(seconds=10)).isoformat() }}")
    HITLOperator(task_id="ask", subject="Which one?", options=["A", "B"])
    approve = ApprovalOperator(task_id="approve", subject="Ship?", defaults="Approve",
                               response_timeout=datetime.timedelta(seconds=3))

    @task
    def after():
        return "shipped"

    approve >> after()
'''

ADMIN = {"admin-token": Principal("admin", "Admin")}


async def _state_of(harness: Harness, run: Any, task_id: str) -> Any:
    async with harness.plane.store.connect() as conn:
        tis = await task_instances.list_for_run(conn, run.id)
    return next(ti for ti in tis if ti.task_id == task_id)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie not reaped yet has ended too
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


async def _gone(pid: int | None, seconds: float = 15.0) -> bool:
    """The try's process ends once it reported the deferral (it may take a moment to exit)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while _alive(pid):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _waiting(harness: Harness, run: Any, task_id: str, state: str) -> None:
    await harness.wait_event(
        lambda k, d: k == "ti.deferred" and d.get("run_id") == run.run_id
        and d.get("task_id") == task_id and d.get("state") == state, 120.0)


async def test_deferrals_and_hitl_of_the_real_airflow_wait_in_the_control_plane(
        real_airflow: Any, projects: Projects, e2e_home: Path, sqlite_url: str,
        tmp_path: Path) -> None:
    folder = real_airflow.project(tmp_path / "real_waits", "real_waits", DAG)
    prepared = await projects.prepare(folder)
    async with open_plane(e2e_home, sqlite_url) as harness:
        auth = auth_service(harness.plane.store, e2e_home)
        await enroll(auth, ADMIN)
        context = ApiContext.of(harness.plane.services, auth=auth, version=__version__,
                                started_at=datetime.now(UTC))
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api(context)),
                                base_url="http://leoflow.test", timeout=30.0)
        name = await harness.register(prepared)
        run = await harness.trigger(name)

        await _waiting(harness, run, "later", "deferred")
        later = await _state_of(harness, run, "later")
        assert later.state == "deferred"
        assert await _gone(later.pid), "a deferred try holds no process"
        assert (await _state_of(harness, run, "later")).state == "deferred"

        await _waiting(harness, run, "ask", "awaiting_input")
        ask = await _state_of(harness, run, "ask")
        assert ask.state == "awaiting_input" and await _gone(ask.pid)
        url = (f"/api/v2/dags/{name}/dagRuns/{run.run_id}/taskInstances/ask/-1/"
               "hitlDetails")
        detail = await api.get(url, headers=authorization("admin-token", ADMIN))
        assert detail.status_code == 200, detail.text
        assert (detail.json()["subject"], detail.json()["options"]) == ("Which one?",
                                                                        ["A", "B"])
        answered = await api.patch(url, json={"chosen_options": ["B"], "params_input": {}},
                                   headers=authorization("admin-token", ADMIN))
        assert answered.status_code == 200, answered.text
        await api.aclose()

        assert await harness.wait(run, 180.0) == "success"
        result = await harness.result(run)

    assert result.states() == dict.fromkeys(["later", "ask", "approve", "after"], "success")
    assert {n: t.try_number for n, t in result.tasks.items()} == dict.fromkeys(
        ["later", "ask", "approve", "after"], 1), "each resumed in the try that waited"
    later_log = "\n".join(result.lines("later", streams=("stdout", "stderr", "agent")))
    # Airflow's runner paused the task; the control plane's trigger runner waited and fired
    assert "Pausing task as DEFERRED" in later_log
    assert "trigger: fired: time" in later_log
    assert result.xcom["ask"]["chosen_options"] == ["B"]
    assert result.xcom["ask"]["responded_by_user"]["name"] == "admin"
    assert result.xcom["approve"]["chosen_options"] == ["Approve"]
    assert result.xcom["approve"]["responded_by_user"] is None  # the timeout's defaults
    assert result.xcom["after"] == "shipped"
