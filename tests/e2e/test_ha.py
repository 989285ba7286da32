"""Two ``leoflow-server`` replicas on one PostgreSQL: kill the leader mid-run.

Both replicas are real processes on one real PostgreSQL (pgserver), serve the API and the
agent service, and campaign for the scheduler's lock. A chain of eight half-second tasks
(one retry each) is triggered through the follower; once the third task runs, the leader
gets SIGKILL. The follower must take over within 10 s, the run must finish ``success``,
and no task may ever have had two tries running at once: each task's process writes its
start, end and pid to a file, and the intervals are checked for overlap.

The replicas share a LEOFLOW_HOME, as replicas on one machine would (the subprocess
executor runs tasks in the DAG environments under it; logs are written there) and, through
it, the generated secrets. Agents get both replicas' gRPC addresses, their own first.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from leoflow.engine.compiler.compile import compile_project

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PASSWORD = "ha-test-bootstrap-password-1"
TASKS = [f"step_{i}" for i in range(1, 9)]

DAG = '''
import json, os, time
from datetime import datetime, timedelta
from leoflow import DAG, task

RECORDS = {records!r}

with DAG(dag_id="ha_chain", schedule=None, start_date=datetime(2026, 1, 1),
         default_args={{"retries": 1, "retry_delay": timedelta(seconds=1)}}):
    @task
    def step(n: int, previous=None) -> int:
        name = os.path.join(RECORDS, f"step_{{n}}.{{os.getpid()}}.json")
        record = {{"task": f"step_{{n}}", "pid": os.getpid(), "start": time.time()}}
        with open(name, "w") as f:
            json.dump(record, f)
        time.sleep(0.5)
        record["end"] = time.time()
        with open(name, "w") as f:
            json.dump(record, f)
        return n

    value = None
    for i in range(1, 9):
        value = step.override(task_id=f"step_{{i}}")(i, value)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def ha(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/leoflow/ha", timeout=2).json()


def start_replica(name: str, home: Path, database_url: str, grpc: dict[str, int],
                  folder: Path) -> Replica:
    port = free_port()
    advertised = ",".join(f"127.0.0.1:{p}" for p in grpc.values())
    env = {**os.environ, "LEOFLOW_HOME": str(home), "LEOFLOW_DATABASE_URL": database_url,
           "LEOFLOW_BOOTSTRAP_PASSWORD": PASSWORD, "LEOFLOW_REPLICA_ID": name,
           "LEOFLOW_GRPC_ADVERTISE_ADDRESS": advertised}
    for unset in ("LEOFLOW_REDIS_URL", "LEOFLOW_SERVER", "LEOFLOW_TOKEN"):
        env.pop(unset, None)
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "leoflow.app.server", "--host", "127.0.0.1", "--port",
             str(port), "--grpc-port", str(grpc[name])],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    replica = Replica(name, f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"replica {name} exited ({process.returncode}):\n{replica.log()}")
        try:
            if httpx.get(f"{replica.url}/api/v2/version", timeout=1).status_code == 200:
                return replica
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"replica {name} did not start:\n{replica.log()}"
        time.sleep(0.1)


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[dict[str, Replica]]:
    home = tmp_path / "home"
    home.mkdir()
    grpc = {"a": free_port(), "b": free_port()}
    started: dict[str, Replica] = {}
    try:
        # one after the other: the first generates the shared secrets into the home
        started["a"] = start_replica("a", home, postgres_url, grpc, tmp_path)
        started["b"] = start_replica("b", home, postgres_url, grpc, tmp_path)
        yield started
    finally:
        for replica in started.values():
            if replica.process.poll() is None:
                replica.process.terminate()
                try:
                    replica.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    replica.process.kill()
                    replica.process.wait()


def compiled_chain(folder: Path, records: Path) -> dict[str, Any]:
    folder.mkdir()
    (folder / "dag.py").write_text(DAG.format(records=str(records)), "utf-8")
    (folder / "leoflow.yaml").write_text(
        'dag_id: ha_chain\npython_version: "3.11"\ndependencies: []\n', "utf-8")
    document = compile_project(folder).document("ha_chain")
    return {**document, "source_code": (folder / "dag.py").read_text("utf-8")}


def wait_until(condition: Any, timeout: float, what: str, *logs: Replica) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what} within {timeout} s\n" + "\n".join(
                f"--- {r.name}\n{r.log()[-6000:]}" for r in logs))
        time.sleep(0.05)
    return time.monotonic() - start


def test_the_leader_dies_mid_run_and_the_follower_finishes_it(
        replicas: dict[str, Replica], tmp_path: Path) -> None:
    a, b = replicas["a"], replicas["b"]
    wait_until(lambda: a.ha()["is_leader"] or b.ha()["is_leader"], 10, "no leader", a, b)
    leader, follower = (a, b) if a.ha()["is_leader"] else (b, a)
    assert follower.ha()["leader"] == leader.name and not follower.ha()["is_leader"]
    metrics = httpx.get(f"{leader.url}/metrics", timeout=5).text
    assert "leoflow_scheduler_leader 1.0" in metrics

    records = tmp_path / "records"
    records.mkdir()
    token = httpx.post(f"{follower.url}/auth/token", json={
        "username": "admin", "password": PASSWORD}, timeout=10).json()["access_token"]
    api = httpx.Client(base_url=follower.url, timeout=120,
                       headers={"Authorization": f"Bearer {token}"})
    # Everything goes through the follower: its nudges must reach the leader's scheduler.
    pushed = api.post("/api/leoflow/dags", json=compiled_chain(tmp_path / "chain", records))
    assert pushed.status_code == 201, pushed.text
    assert api.patch("/api/v2/dags/ha_chain", json={"is_paused": False}).status_code == 200
    run = api.post("/api/v2/dags/ha_chain/dagRuns", json={"logical_date": None})
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]

    def started(task: str) -> bool:
        return any(records.glob(f"{task}.*.json"))

    wait_until(lambda: started("step_3"), 60, "step_3 did not start", leader, follower)
    leader.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    leader.process.wait(timeout=10)

    took = wait_until(lambda: follower.ha()["is_leader"], 10,
                      "the follower did not take over", follower)
    print(f"took over {took:.2f} s after the leader's SIGKILL")
    assert time.monotonic() - killed_at < 10

    def finished() -> bool:
        state = api.get(f"/api/v2/dags/ha_chain/dagRuns/{run_id}").json()["state"]
        assert state != "failed", follower.log()[-6000:]
        return state == "success"

    wait_until(finished, 120, "the run did not succeed", follower)

    tries: dict[str, list[dict[str, Any]]] = {task: [] for task in TASKS}
    for path in records.glob("*.json"):
        record = json.loads(path.read_text("utf-8"))
        tries[record["task"]].append(record)
    for task, intervals in tries.items():
        assert intervals, f"{task} never ran"
        intervals.sort(key=lambda r: r["start"])
        for earlier, later in itertools.pairwise(intervals):
            # a try that never wrote its end counts as still running
            assert "end" in earlier and earlier["end"] <= later["start"], (
                f"{task} ran twice at once: {earlier} and {later}")
    print("tries per task:", {task: len(t) for task, t in tries.items()})
    # The try in flight is normally adopted by the new leader (one try each); at most that
    # one task runs again (its agent caught between launch and start).
    assert sum(len(t) for t in tries.values()) <= len(TASKS) + 1
    instances = api.get(f"/api/v2/dags/ha_chain/dagRuns/{run_id}/taskInstances").json()
    assert {ti["task_id"]: ti["state"] for ti in instances["task_instances"]} == {
        task: "success" for task in TASKS}
    assert "became leader" in follower.log()
