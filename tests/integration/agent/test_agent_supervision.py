"""Supervision: timeouts and stops kill the whole process group; bounded logs; bad links."""

from __future__ import annotations

import os
import socket
import time

from tests.integration.agent.control_plane import ScriptedControlPlane, fetch, run_agent_process

DAG = """
import os, subprocess, sys, time
from leoflow import DAG, task
with DAG("demo") as dag:
    @task
    def sleeper(pid_file):
        child = subprocess.Popen(["sleep", "300"])
        with open(pid_file, "w") as handle:
            handle.write(str(child.pid))
        print("started", child.pid, flush=True)
        time.sleep(300)
    @task
    def chatty(lines, width):
        payload = "y" * width
        write = sys.stdout.write
        for i in range(lines):
            write(f"{i} {payload}\\n")
        return lines
    @task
    def long_line():
        print("z" * 1_000_000)
        print("after")
    sleeper("x"); chatty(1, 1); long_line()
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of an already-killed child counts as gone
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


async def test_execution_timeout_kills_the_process_group(project, serve, tmp_path):
    folder = project(DAG)
    pid_file = tmp_path / "child.pid"
    servicer = ScriptedControlPlane(fetch(str(folder), "sleeper", args=[str(pid_file)],
                                          execution_timeout=1.5))
    run = await run_agent_process(await serve(servicer))
    assert run.returncode == 0, run.stderr
    report = servicer.recorded.report
    assert (report.state, report.error_type) == ("failed", "AirflowTaskTimeout")
    assert "execution_timeout of 1.5 s" in report.error_message
    assert report.exit_code == 128 + 15  # SIGTERM
    assert run.elapsed < 10
    assert wait_gone(int(pid_file.read_text())), "the task's child process survived"


async def test_heartbeat_stop_kills_the_user_process(project, serve, tmp_path):
    folder = project(DAG)
    pid_file = tmp_path / "child.pid"
    servicer = ScriptedControlPlane(fetch(str(folder), "sleeper", args=[str(pid_file)]),
                                    heartbeat_interval=0.3, stop_after_beats=2,
                                    # the user process has started its child (a start
                                    # from a zygote starting on a loaded machine is slower)
                                    stop_when=pid_file.exists)
    run = await run_agent_process(await serve(servicer))
    assert run.returncode == 0, run.stderr
    report = servicer.recorded.report
    assert (report.state, report.error_type) == ("failed", "AirflowTaskTerminated")
    assert "cancelled by a user" in report.error_message
    assert servicer.recorded.heartbeats >= 2
    assert run.elapsed < 10
    assert wait_gone(int(pid_file.read_text()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_control_plane_ends_after_bounded_retries():
    run = await run_agent_process(
        f"127.0.0.1:{free_port()}",
        extra_env={"LEOFLOW_AGENT_CONNECT_ATTEMPTS": "3",
                   "LEOFLOW_AGENT_CONNECT_BACKOFF": "0.2"})
    assert run.returncode == 3
    assert "cannot reach the control plane" in run.stderr
    assert "after 3 attempts" in run.stderr
    assert run.stderr.count("retrying in") == 2
    assert run.elapsed < 8


async def test_a_bad_token_is_rejected_with_a_clear_message(project, serve):
    servicer = ScriptedControlPlane(fetch(str(project(DAG)), "chatty"))
    run = await run_agent_process(await serve(servicer), token="stolen")
    assert run.returncode == 4
    assert "rejected Authenticate" in run.stderr
    assert "UNAUTHENTICATED: invalid or stale token" in run.stderr
    assert servicer.recorded.report is None


async def test_missing_configuration_exits_2():
    run = await run_agent_process("", extra_env={"LEOFLOW_AGENT_ADDRESS": ""})
    assert run.returncode == 2
    assert "LEOFLOW_AGENT_ADDRESS not set" in run.stderr


async def test_long_lines_are_truncated(project, serve):
    servicer = ScriptedControlPlane(fetch(str(project(DAG)), "long_line"))
    run = await run_agent_process(await serve(servicer))
    assert run.returncode == 0, run.stderr
    stdout = servicer.recorded.text("stdout")
    assert len(stdout) == 2 and stdout[1] == "after"
    assert stdout[0].startswith("z" * 65536) and stdout[0].endswith("truncated by "
                                                                   "leoflow-agent at 64 KB]")


async def run_chatty(project, serve, lines: int, width: int):
    servicer = ScriptedControlPlane(fetch(str(project(DAG)), "chatty", args=[lines, width]),
                                    keep_lines=10)
    run = await run_agent_process(await serve(servicer), timeout=600)
    assert run.returncode == 0, run.stderr
    assert servicer.recorded.report.state == "success"
    return servicer.recorded, run


async def test_heavy_output_is_all_stored_with_bounded_agent_memory(project, serve):
    # 20,000 lines of 10 KB: 200 MB through the agent, which must not hold it
    recorded, run = await run_chatty(project, serve, 20_000, 10_000)
    stdout_and_agent = recorded.line_count
    assert stdout_and_agent == 20_000 + 2  # + the agent's "running" and "task success" lines
    assert recorded.agent_rss_peak_kb is not None
    assert recorded.agent_rss_peak_kb < 100_000, recorded.agent_rss_peak_kb
    print(f"200 MB in {run.elapsed:.1f} s, agent peak RSS {recorded.agent_rss_peak_kb} KB")


async def test_a_million_lines(project, serve):
    recorded, run = await run_chatty(project, serve, 1_000_000, 20)
    assert recorded.line_count == 1_000_000 + 2
    assert recorded.agent_rss_peak_kb < 100_000, recorded.agent_rss_peak_kb
    print(f"1M lines in {run.elapsed:.1f} s, agent peak RSS {recorded.agent_rss_peak_kb} KB")


async def test_sigterm_to_the_agent_kills_the_task_and_still_reports(project, serve, tmp_path):
    import asyncio
    import signal
    import sys

    from tests.integration.agent.control_plane import TI_ID, TOKEN

    folder = project(DAG)
    pid_file = tmp_path / "child.pid"
    servicer = ScriptedControlPlane(fetch(str(folder), "sleeper", args=[str(pid_file)]))
    address = await serve(servicer)
    env = {"PATH": os.environ.get("PATH", ""), "LEOFLOW_AGENT_ADDRESS": address,
           "LEOFLOW_TI_ID": TI_ID, "LEOFLOW_TOKEN": TOKEN}
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "leoflow.agent", env=env, stderr=asyncio.subprocess.PIPE)
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.05)
    agent.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(agent.communicate(), 20)
    assert agent.returncode == 0, stderr.decode()
    report = servicer.recorded.report
    assert (report.state, report.error_type) == ("failed", "AirflowTaskTerminated")
    assert "SIGTERM" in report.error_message
    assert wait_gone(int(pid_file.read_text()))
