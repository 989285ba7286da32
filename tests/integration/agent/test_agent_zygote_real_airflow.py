"""Zygotes for tasks run by the real Airflow's runner (runtime "airflow").

Real agents against the scripted control plane (a real gRPC server on 127.0.0.1), in the
session's DAG environment holding the real apache-airflow 3.3.2 (``real_airflow``): the
DAG version's zygote imports Airflow's runner and parses the DAG file with it once, and
forks each try. What is checked is what a task sees: its own module state, its own
connections and variables (Airflow's EnvironmentVariablesBackend), its own AIRFLOW_HOME,
and what happens when the zygote dies or the DAG changes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.agent.control_plane import (
    ScriptedControlPlane,
    fetch,
    run_agent_process,
)
from tests.integration.agent.zygotes import alive as _alive
from tests.integration.agent.zygotes import children as _children
from tests.integration.agent.zygotes import listeners as _listeners

pytestmark = pytest.mark.slow

DAG = """
import os, random, time
import pendulum
from airflow.sdk import DAG, BaseHook, Variable, task

COUNTER = [0]

with DAG("demo", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    @task
    def probe():
        COUNTER[0] += 1
        conn = BaseHook.get_connection("api")
        return {"pid": os.getpid(), "ppid": os.getppid(), "counter": COUNTER[0],
                "random": random.random(), "var": Variable.get("greeting"),
                "host": conn.host, "home": os.environ.get("AIRFLOW_HOME"),
                "sid": os.getsid(0)}

    @task
    def slow():
        time.sleep(float(Variable.get("sleep")))

    probe()
    slow()
"""

READS_AT_IMPORT = """
import pendulum
from airflow.sdk import DAG, Variable, task

N = int(Variable.get("fanout", default="2"))

with DAG("demo", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    @task
    def probe():
        import os
        return {"n": N, "ppid": os.getppid()}
    probe()
"""


def _secrets(greeting: str, host: str, sleep: float = 60) -> dict[str, str]:
    """A tenant's connections and variables, as the control plane hands them to a try."""
    return {"AIRFLOW_VAR_GREETING": greeting, "AIRFLOW_VAR_SLEEP": str(sleep),
            "AIRFLOW_CONN_API": json.dumps({"conn_type": "http", "host": host})}


def _servicer(folder: Path, task_id: str, python: Path, env: dict[str, str]):
    return ScriptedControlPlane(fetch(str(folder), task_id, spec={"runtime": "airflow"},
                                      env=env, python=str(python)))


async def _run(folder: Path, serve, python: Path, zygote: dict[str, str],
               env: dict[str, str], task_id: str = "probe"):
    servicer = _servicer(folder, task_id, python, env)
    run = await run_agent_process(await serve(servicer), timeout=180, extra_env=zygote)
    assert run.returncode == 0, run.stderr
    return servicer.recorded


def _forked(recorded) -> bool:
    return any("forked from the DAG version's zygote" in line
               for line in recorded.text("agent"))


async def test_tries_forked_from_one_zygote_keep_their_own_state_and_secrets(
        project, serve, real_airflow, zygote_env):
    folder = project(DAG)
    python = real_airflow.python
    first = await _run(folder, serve, python, zygote_env, _secrets("hello", "a.internal"))
    second = await _run(folder, serve, python, zygote_env, _secrets("salut", "b.internal"))
    for recorded in (first, second):
        assert recorded.report.state == "success", recorded.lines[-30:]
        assert _forked(recorded), recorded.text("agent")
    a, b = first.pushed["return_value"], second.pushed["return_value"]
    assert a["ppid"] == b["ppid"]  # one zygote served both (connections are not its key)
    assert a["ppid"] not in (first.agent_pid, second.agent_pid)
    assert a["pid"] != b["pid"] and a["sid"] == a["pid"]
    assert a["counter"] == b["counter"] == 1  # module state is not shared
    assert a["random"] != b["random"]
    # each try reads its own tenant's variables and connections, not the zygote's
    assert (a["var"], a["host"]) == ("hello", "a.internal")
    assert (b["var"], b["host"]) == ("salut", "b.internal")
    zygote = a["ppid"]
    environ = Path(f"/proc/{zygote}/environ").read_bytes()
    assert b"AIRFLOW_VAR_" not in environ and b"AIRFLOW_CONN_" not in environ
    # each try has its own AIRFLOW_HOME, removed when it ends
    assert a["home"] != b["home"]
    assert not Path(a["home"]).exists() and not Path(b["home"]).exists()

    # a new version of the DAG file gets a new zygote; the old one is not used
    (folder / "dag.py").write_text(DAG.replace("COUNTER = [0]", "COUNTER = [10]"), "utf-8")
    third = await _run(folder, serve, python, zygote_env, _secrets("hej", "c.internal"))
    c = third.pushed["return_value"]
    assert _forked(third)
    assert c["counter"] == 11 and c["ppid"] != zygote and c["var"] == "hej"


async def test_a_dag_reading_variables_at_import_starts_the_normal_way(
        project, serve, real_airflow, zygote_env):
    folder = project(READS_AT_IMPORT)
    env = {"AIRFLOW_VAR_FANOUT": "7"}
    recorded = await _run(folder, serve, real_airflow.python, zygote_env, env)
    assert recorded.report.state == "success", recorded.lines[-30:]
    assert any("zygote not used: not forkable: the DAG module reads connections or "
               "variables at import (AIRFLOW_VAR_FANOUT)" in line
               for line in recorded.text("agent")), recorded.text("agent")
    value = recorded.pushed["return_value"]
    assert value == {"n": 7, "ppid": recorded.agent_pid}  # parsed with the try's variable


async def test_a_killed_zygote_fails_only_the_tries_it_was_running(
        project, serve, real_airflow, zygote_env, tmp_path):
    python = real_airflow.python
    doomed_folder = project(DAG)
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    (other_folder / "dag.py").write_text(DAG, "utf-8")  # another project: its own zygote
    doomed = _servicer(doomed_folder, "slow", python, _secrets("x", "x", sleep=120))
    other = _servicer(other_folder, "slow", python, _secrets("y", "y", sleep=8))
    agents = [asyncio.create_task(run_agent_process(await serve(s), timeout=180,
                                                    extra_env=zygote_env))
              for s in (doomed, other)]
    # both tries running, each in a child of its project's zygote
    socks: dict[int, set[int]] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        socks = {z: _children(z) for sock in
                 Path(zygote_env["TMPDIR"]).glob("leoflow-zygotes-*/*.sock")
                 for z in _listeners(sock)}
        if sum(1 for kids in socks.values() if kids) == 2:
            break
        await asyncio.sleep(0.1)
    zygotes = [z for z, kids in socks.items() if kids]
    assert len(zygotes) == 2, socks
    doomed_zygote = next(z for z in zygotes
                         if Path(f"/proc/{z}/cwd").resolve() == doomed_folder.resolve())
    doomed_child = socks[doomed_zygote].pop()
    os.kill(doomed_zygote, signal.SIGKILL)
    for agent in agents:
        run = await asyncio.wait_for(agent, 180)
        assert run.returncode == 0, run.stderr
    assert doomed.recorded.report.state == "failed"
    assert not _alive(doomed_child)
    assert other.recorded.report.state == "success", other.recorded.lines[-30:]
    # the next try of the killed zygote's DAG gets a new one
    again = await _run(doomed_folder, serve, python, zygote_env, _secrets("z", "z"))
    assert again.report.state == "success" and _forked(again)
    assert again.pushed["return_value"]["ppid"] != doomed_zygote
