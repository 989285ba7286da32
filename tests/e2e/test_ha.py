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
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.ha.servers import (
    ServerProcess,
    free_port,
    push_project,
    start_server,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

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


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[dict[str, ServerProcess]]:
    home = tmp_path / "home"
    home.mkdir()
    grpc = {"a": free_port(), "b": free_port()}
    env = {"LEOFLOW_DATABASE_URL": postgres_url,
           "LEOFLOW_GRPC_ADVERTISE_ADDRESS": ",".join(f"127.0.0.1:{p}" for p in grpc.values())}
    started: dict[str, ServerProcess] = {}
    try:
        # one after the other: the first generates the shared secrets into the home
        for name, port in grpc.items():
            started[name] = start_server(name, tmp_path, home=home, env=env,
                                         args=("--grpc-port", str(port)))
        yield started
    finally:
        for server in started.values():
            server.stop()


def heartbeat_age(server: ServerProcess) -> float:
    """Seconds since the scheduler heartbeat that ``/api/v2/monitor/health`` reports."""
    health = httpx.get(f"{server.url}/api/v2/monitor/health", timeout=5).json()
    beat = health["scheduler"]["latest_scheduler_heartbeat"]
    return (datetime.now(UTC) - datetime.fromisoformat(beat.replace("Z", "+00:00"))
            ).total_seconds()


def test_the_leader_dies_mid_run_and_the_follower_finishes_it(
        replicas: dict[str, ServerProcess], tmp_path: Path) -> None:
    a, b = replicas["a"], replicas["b"]
    wait_until(lambda: a.ha()["is_leader"] or b.ha()["is_leader"], 10, "no leader", a, b)
    leader, follower = (a, b) if a.ha()["is_leader"] else (b, a)
    assert follower.ha()["leader"] == leader.name and not follower.ha()["is_leader"]
    assert "leoflow_scheduler_leader 1.0" in httpx.get(f"{leader.url}/metrics").text
    assert "leoflow_scheduler_leader 0.0" in httpx.get(f"{follower.url}/metrics").text
    assert heartbeat_age(follower) < 5  # the follower reports the leader's heartbeat

    records = tmp_path / "records"
    records.mkdir()
    # Everything goes through the follower: its nudges must reach the leader's scheduler.
    api = follower.api()
    push_project(api, tmp_path / "chain", "ha_chain", DAG.format(records=str(records)))
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
    assert heartbeat_age(follower) < 5
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


LONG = '''
import json, os, time
from datetime import datetime, timedelta
from leoflow import DAG, task

with DAG(dag_id="ha_long", schedule=None, start_date=datetime(2026, 1, 1),
         default_args={{"retries": 1, "retry_delay": timedelta(seconds=1)}}):
    @task
    def long() -> str:
        name = os.path.join({records!r}, f"long.{{os.getpid()}}.json")
        record = {{"pid": os.getpid(), "start": time.time()}}
        with open(name, "w") as f:
            json.dump(record, f)
        time.sleep(16)
        record["end"] = time.time()
        with open(name, "w") as f:
            json.dump(record, f)
        return "done"

    long()
'''


def test_a_new_leader_hears_agents_that_talk_to_another_replica(
        tmp_path: Path, postgres_url: str) -> None:
    """Agents reach the control plane through one replica (as through a cluster Service)
    that never schedules; the leader dies mid-task and a third replica takes over. Its
    heartbeat watchdog must hear the agent through that replica: the task, longer than the
    watchdog's 10 s, finishes in its first try instead of being failed and run again."""
    home = tmp_path / "home"
    home.mkdir()
    grpc = {"a": free_port(), "gate": free_port(), "c": free_port()}
    env = {"LEOFLOW_DATABASE_URL": postgres_url,
           "LEOFLOW_GRPC_ADVERTISE_ADDRESS": f"127.0.0.1:{grpc['gate']}"}
    servers: dict[str, ServerProcess] = {}
    try:
        for name, port in grpc.items():
            extra = ("--no-scheduler",) if name == "gate" else ()
            servers[name] = start_server(name, tmp_path, home=home, env=env,
                                         args=("--grpc-port", str(port), *extra))
        a, gate, c = servers["a"], servers["gate"], servers["c"]
        wait_until(lambda: a.ha()["is_leader"], 10, "the first replica did not lead", a)
        assert gate.ha()["leader"] == "a" and not gate.ha()["is_leader"]

        records = tmp_path / "records"
        records.mkdir()
        api = gate.api()
        push_project(api, tmp_path / "long", "ha_long", LONG.format(records=str(records)))
        run = api.post("/api/v2/dags/ha_long/dagRuns", json={"logical_date": None})
        assert run.status_code == 200, run.text
        run_id = run.json()["dag_run_id"]
        wait_until(lambda: any(records.glob("long.*.json")), 60, "long did not start", a)
        a.process.send_signal(signal.SIGKILL)
        a.process.wait(timeout=10)
        wait_until(lambda: c.ha()["is_leader"], 10, "the third replica did not lead", c)
        assert not gate.ha()["is_leader"]  # --no-scheduler: it never stands

        def finished() -> bool:
            state = api.get(f"/api/v2/dags/ha_long/dagRuns/{run_id}").json()["state"]
            assert state != "failed", c.log()[-6000:]
            return state == "success"

        wait_until(finished, 60, "the run did not succeed", c, gate)
        tries = [json.loads(p.read_text("utf-8")) for p in records.glob("long.*.json")]
        assert len(tries) == 1 and "end" in tries[0], tries
        ti = api.get(f"/api/v2/dags/ha_long/dagRuns/{run_id}/taskInstances/long").json()
        assert (ti["state"], ti["try_number"]) == ("success", 1)
    finally:
        for server in servers.values():
            server.stop()


WAITS = '''
from datetime import datetime
from leoflow import DAG, FileSensor, task

with DAG(dag_id="ha_waits", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def after() -> str:
        return "landed"

    FileSensor(task_id="wait_for_file", filepath={path!r}, deferrable=True,
               poke_interval=0.5, timeout=600) >> after()
'''


def test_a_deferred_sensor_moves_to_the_new_leader(
        replicas: dict[str, ServerProcess], tmp_path: Path) -> None:
    """Triggers are owned by the leader's scheduler: when it dies, the new leader loads the
    waiting trigger from the store and it fires there, once."""
    a, b = replicas["a"], replicas["b"]
    wait_until(lambda: a.ha()["is_leader"] or b.ha()["is_leader"], 10, "no leader", a, b)
    leader, follower = (a, b) if a.ha()["is_leader"] else (b, a)
    flag = tmp_path / "landing" / "orders.csv"
    api = follower.api()
    push_project(api, tmp_path / "waits", "ha_waits", WAITS.format(path=str(flag)))
    run = api.post("/api/v2/dags/ha_waits/dagRuns", json={"logical_date": None})
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]
    instance = f"/api/v2/dags/ha_waits/dagRuns/{run_id}/taskInstances/wait_for_file"

    def state(path: str = instance) -> str | None:
        return api.get(path).json().get("state")

    wait_until(lambda: state() == "deferred", 60, "the sensor was not deferred", leader)
    assert api.get(instance).json()["trigger"]["triggerer_id"] in (None, leader.name)
    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(timeout=10)
    wait_until(lambda: follower.ha()["is_leader"], 10, "the follower did not take over",
               follower)
    assert state() == "deferred"  # still waiting, now on the new leader
    flag.parent.mkdir()
    flag.write_text("order,amount\n")

    def finished() -> bool:
        run_state = api.get(f"/api/v2/dags/ha_waits/dagRuns/{run_id}").json()["state"]
        assert run_state != "failed", follower.log()[-6000:]
        return run_state == "success"

    wait_until(finished, 60, "the run did not succeed", follower)
    sensor = api.get(instance).json()
    assert (sensor["state"], sensor["try_number"]) == ("success", 1)
