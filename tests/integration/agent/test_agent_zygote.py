"""User processes forked from a per-DAG-version zygote (leoflow.sdk.zygote), with real
agents, a real gRPC control plane (scripted), real zygote processes and real forks."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from tests.integration.agent.control_plane import (
    TI_ID,
    TOKEN,
    ScriptedControlPlane,
    fetch,
    run_agent_process,
)
from tests.integration.agent.zygotes import alive as _alive
from tests.integration.agent.zygotes import children as _children
from tests.integration.agent.zygotes import listeners as _listeners

DAG = """
import os, random
from leoflow import DAG, task
COUNTER = [0]
with DAG("demo") as dag:
    @task
    def probe():
        COUNTER[0] += 1
        return {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0),
                "sid": os.getsid(0), "counter": COUNTER[0], "random": random.random(),
                "env": sorted(os.environ), "ctx": os.environ.get("AIRFLOW_CTX_TASK_ID"),
                "custom": os.environ.get("MY_SETTING"), "fds": sorted(os.listdir("/proc/self/fd"))}
    @task
    def slow():
        import time
        time.sleep(30)
    probe(); slow()
"""

THREADED = """
import threading, time
from leoflow import DAG, task
threading.Thread(target=time.sleep, args=(30,), daemon=True, name="poller").start()
with DAG("demo") as dag:
    @task
    def probe():
        import os
        return {"ppid": os.getppid()}
    probe()
"""


async def _run(folder: Path, serve, env: dict[str, str], task_id: str = "probe"):
    servicer = ScriptedControlPlane(fetch(str(folder), task_id, env={"MY_SETTING": "on"}))
    address = await serve(servicer)
    run = await run_agent_process(address, extra_env=env)
    assert run.returncode == 0, run.stderr
    return servicer.recorded


async def test_tries_share_a_zygote_not_their_process(project, serve, zygote_env):
    folder = project(DAG)
    first = await _run(folder, serve, zygote_env)
    second = await _run(folder, serve, zygote_env)
    for recorded in (first, second):
        assert recorded.report.state == "success"
        assert any("forked from the DAG version's zygote" in line
                   for line in recorded.text("agent")), recorded.text("agent")
    a, b = first.pushed["return_value"], second.pushed["return_value"]
    assert a["ppid"] == b["ppid"]  # one zygote, still warm
    assert a["ppid"] not in (first.agent_pid, second.agent_pid)
    assert a["pid"] != b["pid"]
    assert a["counter"] == b["counter"] == 1  # the module's state is not shared
    assert a["random"] != b["random"]  # fresh seeds
    assert a["pgid"] == a["sid"] == a["pid"]  # its own session and group
    # the try's environment, and no agent or control-plane secret
    assert a["ctx"] == "probe" and a["custom"] == "on"
    for secret in ("LEOFLOW_TOKEN", "LEOFLOW_DATABASE_URL", "LEOFLOW_AGENT_ADDRESS",
                   "LEOFLOW_TI_ID"):
        assert secret not in a["env"]
    assert len(a["fds"]) <= 6  # stdin/out/err, the channel's two ends, listdir's own
    zygote = a["ppid"]
    assert _alive(zygote)
    # a new version of the DAG gets a new zygote
    (folder / "dag.py").write_text(DAG.replace("COUNTER = [0]", "COUNTER = [10]"), "utf-8")
    third = await _run(folder, serve, zygote_env)
    c = third.pushed["return_value"]
    assert c["counter"] == 11 and c["ppid"] != zygote
    # idle zygotes end (LEOFLOW_ZYGOTE_IDLE=12)
    deadline = time.monotonic() + 45
    while (_alive(zygote) or _alive(c["ppid"])) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not _alive(zygote) and not _alive(c["ppid"])


async def test_a_module_starting_a_thread_falls_back_and_says_so(project, serve, zygote_env):
    folder = project(THREADED)
    recorded = await _run(folder, serve, zygote_env)
    assert recorded.report.state == "success"
    lines = recorded.text("agent")
    assert any("zygote not used: not forkable: the DAG module started 1 thread(s) at import "
               "(poller)" in line for line in lines), lines
    assert recorded.pushed["return_value"]["ppid"] == recorded.agent_pid  # a normal start
    again = await _run(folder, serve, zygote_env)  # remembered: no zygote is started again
    assert any("not forkable" in line for line in again.text("agent"))


async def test_a_killed_zygote_fails_its_try_and_is_replaced(project, serve, zygote_env):
    folder = project(DAG)
    first = await _run(folder, serve, zygote_env)
    zygote = first.pushed["return_value"]["ppid"]
    # a try running in the zygote's child fails when the zygote is killed
    servicer = ScriptedControlPlane(fetch(str(folder), "slow", env={"MY_SETTING": "on"}))
    address = await serve(servicer)
    agent = asyncio.create_task(run_agent_process(address, extra_env=zygote_env))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _children(zygote):
        await asyncio.sleep(0.05)
    child = _children(zygote).pop()
    os.kill(zygote, signal.SIGKILL)
    run = await asyncio.wait_for(agent, 30)
    assert run.returncode == 0, run.stderr
    assert servicer.recorded.report.state == "failed"
    assert not _alive(child)
    # the next try gets a new zygote
    second = await _run(folder, serve, zygote_env)
    assert second.report.state == "success"
    assert second.pushed["return_value"]["ppid"] != zygote


async def test_a_zygote_whose_control_plane_is_gone_finishes_its_tries(project, serve,
                                                                       zygote_env):
    """The agents' parent dies (a control plane restarting with keep_agents): the running
    try still finishes, the zygote takes no new try and ends with its last child."""
    folder = project(DAG.replace("time.sleep(30)", "time.sleep(3)"))
    servicer = ScriptedControlPlane(fetch(str(folder), "slow", env={"MY_SETTING": "on"}))
    address = await serve(servicer)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"),
           "LEOFLOW_AGENT_ADDRESS": address, "LEOFLOW_TI_ID": TI_ID, "LEOFLOW_TOKEN": TOKEN,
           **zygote_env}
    # the agent's parent (the zygote's anchor) is a shell that the test kills
    shell = await asyncio.create_subprocess_exec(
        "sh", "-c", f"{sys.executable} -m leoflow.agent; sleep 60", env=env,
        stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    zygote = 0
    while time.monotonic() < deadline:
        socks = list(Path(zygote_env["TMPDIR"]).glob("leoflow-zygotes-*/*.sock"))
        running = [z for sock in socks for z in _listeners(sock) if _children(z)]
        if running:
            zygote = running[0]
            break
        await asyncio.sleep(0.05)
    assert zygote, "no zygote forked the try"
    os.kill(shell.pid, signal.SIGKILL)  # the shell alone: the agent lives on
    await shell.wait()
    await asyncio.wait_for(servicer.reported.wait(), 60)
    assert servicer.recorded.report.state == "success"
    deadline = time.monotonic() + 20
    while _alive(zygote) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not _alive(zygote)


EXITS = """
import atexit, os, threading, time
from leoflow import DAG, task
OUT = os.environ["EXIT_LOG"]

def note(what):
    with open(OUT, "a") as handle:
        handle.write(f"{what} {os.getpid()}\\n")

atexit.register(note, "import-handler")
with DAG("demo") as dag:
    @task
    def probe():
        atexit.register(note, "try-handler")
        threading.Thread(target=lambda: (time.sleep(0.5), note("thread"))).start()
        return {"pid": os.getpid(), "ppid": os.getppid()}
    probe()
"""


async def test_a_forked_try_ends_like_a_fresh_interpreter(project, serve, zygote_env,
                                                          tmp_path):
    """Its non-daemon threads are waited for and its own exit handlers run; those the DAG
    module registered at import belong to the zygote, not to each try."""
    folder = project(EXITS)
    log = tmp_path / "exits.log"
    servicer = ScriptedControlPlane(fetch(str(folder), "probe", env={"EXIT_LOG": str(log)}))
    run = await run_agent_process(await serve(servicer), extra_env=zygote_env)
    assert run.returncode == 0, run.stderr
    value = servicer.recorded.pushed["return_value"]
    assert value["ppid"] != servicer.recorded.agent_pid  # forked from the zygote
    lines = log.read_text().splitlines()
    assert lines == [f"thread {value['pid']}", f"try-handler {value['pid']}"], lines


def test_a_child_that_cannot_be_set_up_is_a_fallback_not_a_failed_try(project, zygote_env,
                                                                       tmp_path, monkeypatch):
    """The forked child tells the zygote once it is in the try's cgroup with its
    descriptors; if it cannot be (here the "cgroup" is a folder), the agent is told to start
    the try the normal way (nothing of the task ran), and the zygote serves the next try."""
    import json
    import socket

    from leoflow.agent import zygote_client
    from leoflow.agent.process import sdk_pythonpath

    monkeypatch.setenv("TMPDIR", zygote_env["TMPDIR"])
    folder = project(DAG)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": sdk_pythonpath(),
           "TMPDIR": zygote_env["TMPDIR"], "PYTHONUNBUFFERED": "1"}
    key = zygote_client.key_for(sys.executable, str(folder), "dag.py", env)

    def ask(cgroup: str) -> tuple[dict, list[int]]:
        pipes = [os.pipe(), os.pipe(), os.pipe(), os.pipe()]
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]]
        sock = zygote_client.connect_or_start(key)
        socket.send_fds(sock, [json.dumps({"env": env, "cgroup": cgroup}).encode() + b"\n"],
                        theirs)
        for fd in theirs:
            os.close(fd)
        sock.settimeout(30)
        answer = json.loads(sock.makefile("rb").readline())
        mine = [pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0]]
        if "pid" in answer:  # the runner reads its payload: end the channel, it exits 2
            os.close(mine[0])
            answer.update(json.loads(sock.makefile("rb").readline()))
            mine = mine[1:]
        for fd in mine:
            os.close(fd)
        sock.close()
        return answer, theirs

    answer, _ = ask(str(tmp_path))  # a folder: os.access says writable, open() fails
    assert "pid" not in answer
    assert answer["fallback"].startswith("the forked child could not be set up "
                                         "(IsADirectoryError"), answer
    answer, _ = ask("")
    assert answer["exit"] == 2 and answer["pid"] > 0


async def test_a_try_from_a_running_zygote_starts_no_thread(project, zygote_env, monkeypatch):
    """With the version's zygote running, the agent gets its child without a thread (the key,
    the connection and the request are done on the event loop); a thread start and the
    executor's shutdown at the agent's end cost more than that work."""
    import threading

    from leoflow.agent import zygote_client
    from leoflow.agent.process import sdk_pythonpath

    monkeypatch.setenv("TMPDIR", zygote_env["TMPDIR"])
    folder = project(DAG)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": sdk_pythonpath(),
           "TMPDIR": zygote_env["TMPDIR"], "PYTHONUNBUFFERED": "1"}
    zygote_client.connect_or_start(
        zygote_client.key_for(sys.executable, str(folder), "dag.py", env)).close()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    threads = threading.active_count()
    child = await zygote_client.spawn(sys.executable, str(folder), "dag.py", env,
                                      (in_r, out_w))
    assert threading.active_count() == threads
    assert child.pid > 0 and child.pid != os.getpid()
    for fd in (in_r, out_w, in_w):  # no payload: the runner reads the end and exits 2
        os.close(fd)
    assert await asyncio.wait_for(child.wait(), 30) == 2
    os.close(out_r)
