"""kill -9 of the control plane while a reschedule-mode sensor waits in it, shown
``up_for_reschedule`` (parked on its trigger): a new server process resumes the wait from the
store, the sensor fires once in the same try, and the run succeeds.

Real parts: two ``leoflow-server --dags-folder`` processes one after the other on one SQLite
file, SIGKILL, the official REST routes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_push_to_pro import free_port

pytestmark = pytest.mark.slow

PASSWORD = "parked-sensor-password-4"
DAG = """
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG

with DAG("parked", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    wait = TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=8), mode="reschedule",
                           poke_interval=1)
    wait >> BashOperator(task_id="after", bash_command="echo after")
"""


def start_server(folder: Path, home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(LEOFLOW_HOME=str(home), LEOFLOW_BOOTSTRAP_PASSWORD=PASSWORD,
               PYTHONUNBUFFERED="1")
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "leoflow.app.server", "--host", "127.0.0.1", "--port",
             str(port), "--dags-folder", str(folder)],
            env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=home.parent)
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, log.read_text("utf-8", "replace")[-3000:]
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/version", timeout=1).status_code == 200:
                return process
        assert time.monotonic() < deadline, "leoflow-server did not start"
        time.sleep(0.2)


def client(port: int) -> httpx.Client:
    url = f"http://127.0.0.1:{port}"
    token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": PASSWORD}
                       ).json()["access_token"]
    return httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def states(api: httpx.Client, run_id: str) -> dict[str, tuple[str | None, int]]:
    found = api.get(f"/api/v2/dags/parked/dagRuns/{run_id}/taskInstances").json()
    return {t["task_id"]: (t["state"], t["try_number"]) for t in found["task_instances"]}


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout} s")


def test_kill_9_while_a_sensor_is_parked_then_it_fires_once(tmp_path: Path) -> None:
    folder, home = tmp_path / "dags", tmp_path / "home"
    folder.mkdir()
    home.mkdir()
    (folder / "parked.py").write_text(textwrap.dedent(DAG), "utf-8")
    port, log = free_port(), tmp_path / "server.log"
    first = start_server(folder, home, port, log)
    try:
        with client(port) as api:
            wait_until(lambda: api.get("/api/v2/dags/parked").status_code == 200, 90,
                       "registration")
            api.patch("/api/v2/dags/parked", params={"update_mask": "is_paused"},
                      json={"is_paused": False}).raise_for_status()
            run_id = api.post("/api/v2/dags/parked/dagRuns", json={
                "logical_date": datetime.now(UTC).isoformat(), "conf": {}}).json()["dag_run_id"]
            wait_until(lambda: states(api, run_id).get("wait") == ("up_for_reschedule", 1),
                       30, "the sensor parked in up_for_reschedule")
    finally:
        first.send_signal(signal.SIGKILL)  # no orderly stop: only the store remains
        first.wait(10)
    second = start_server(folder, home, port, log)
    try:
        with client(port) as api:
            wait_until(lambda: api.get(f"/api/v2/dags/parked/dagRuns/{run_id}").json()["state"]
                       in ("success", "failed"), 60, "the run's end")
            assert api.get(f"/api/v2/dags/parked/dagRuns/{run_id}").json()["state"] == "success"
            # the same try fired once: no second try, and the sensor has one try recorded
            assert states(api, run_id) == {"wait": ("success", 1), "after": ("success", 1)}
            tries = api.get(f"/api/v2/dags/parked/dagRuns/{run_id}/taskInstances/wait/tries"
                            ).json()
            assert tries["total_entries"] == 1
    finally:
        second.terminate()
        second.wait(30)
