"""The remote commands against a real ``leoflow-server`` subprocess (SQLite, real agents):
push an example, unpause, trigger and wait, status, list, logs, pause — and what the
server logged and measured meanwhile."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx
import pytest

from tests.integration.cli_remote.conftest import make_project

pytestmark = pytest.mark.slow


def cli(server, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``leoflow ...`` as a user runs it, with the server and token from the environment."""
    import os

    env = {**os.environ, "LEOFLOW_SERVER": server.url, "LEOFLOW_TOKEN": server.token}
    return subprocess.run([sys.executable, "-m", "leoflow.app.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_push_trigger_wait_status_logs_pause(leoflow_server, project):
    pushed = cli(leoflow_server, "push", str(project / "dag.json"), "--unpause", "--json")
    assert pushed.returncode == 0, pushed.stderr
    version = json.loads(pushed.stdout)
    assert (version["dag_id"], version["version_number"], version["is_paused"]) == (
        "hello", 1, False)

    listed = cli(leoflow_server, "dags", "list", "--json")
    assert ("hello", False) in [(d["dag_id"], d["is_paused"]) for d in json.loads(listed.stdout)]

    waited = cli(leoflow_server, "runs", "trigger", "hello", "--wait", "--timeout", "90",
                 "--poll", "0.2")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    lines = waited.stdout.splitlines()
    run_id = re.match(r"==> run (\S+) of hello", lines[0]).group(1)
    progress = [line.split()[1:] for line in lines[1:-1]]
    # every task reaches success, each change on its own line, in order per task
    for task in ("make_greeting", "shout"):
        states = [p[1] for p in progress if p[0] == task]
        assert states[-1] == "success", waited.stdout
        assert len(states) == len(set(states))
    assert lines[-1].startswith("==> hello success")

    status = cli(leoflow_server, "runs", "status", "hello", run_id)
    assert status.returncode == 0
    assert status.stdout.splitlines()[0] == f"run {run_id} of hello: success"
    assert re.search(r"^shout\s+success\s+1\s", status.stdout, re.M)
    as_json = json.loads(cli(leoflow_server, "runs", "status", "hello", run_id,
                             "--json").stdout)
    assert as_json["dag_run"]["state"] == "success"
    assert {t["task_id"]: t["state"] for t in as_json["task_instances"]} == {
        "make_greeting": "success", "shout": "success"}

    runs = json.loads(cli(leoflow_server, "runs", "list", "--dag-id", "hello", "--json").stdout)
    assert [(r["dag_id"], r["dag_run_id"]) for r in runs] == [("hello", run_id)]
    assert ("hello", run_id) in [(r["dag_id"], r["dag_run_id"]) for r in json.loads(
        cli(leoflow_server, "runs", "list", "--json").stdout)]
    assert run_id in cli(leoflow_server, "runs", "list").stdout

    log = cli(leoflow_server, "logs", "hello", run_id, "shout")
    assert log.returncode == 0, log.stderr
    assert "HELLO, LEOFLOW!" in log.stdout
    followed = cli(leoflow_server, "logs", "hello", run_id, "shout", "--follow", "--json")
    records = [json.loads(line) for line in followed.stdout.splitlines()]
    assert any("HELLO, LEOFLOW!" in r["event"] for r in records)

    paused = cli(leoflow_server, "dags", "pause", "hello")
    assert (paused.returncode, paused.stdout.strip()) == (0, "DAG 'hello' paused")
    assert {d["dag_id"]: d["is_paused"] for d in json.loads(
        cli(leoflow_server, "dags", "list", "--json").stdout)}["hello"] is True
    assert cli(leoflow_server, "dags", "unpause", "hello").stdout.strip() == \
        "DAG 'hello' unpaused"

    # what the server measured and logged meanwhile
    metrics = httpx.get(f"{leoflow_server.url}/metrics").text
    assert 'leoflow_dag_runs{state="success"} 1.0' in metrics
    assert 'leoflow_task_duration_seconds_count{state="success"} 2.0' in metrics
    assert "leoflow_scheduling_delay_seconds_count 2.0" in metrics
    assert "leoflow_xcom_pushes_total 2.0" in metrics
    assert re.search(r'leoflow_api_request_duration_seconds_count\{method="POST",'
                     r'route="/api/leoflow/dags",status="201"\} 1.0', metrics)
    access = [json.loads(line) for line in leoflow_server.log().splitlines()
              if '"leoflow.api.access"' in line]
    assert {"method": "POST", "path": "/api/v2/dags/{dag_id}/dagRuns", "status": 200,
            "user": "admin"}.items() <= next(
        a for a in access if a["path"] == "/api/v2/dags/{dag_id}/dagRuns").items()
    assert all(isinstance(a["duration_ms"], float) for a in access)


def test_errors_name_the_dag_and_run(leoflow_server, tmp_path):
    missing = cli(leoflow_server, "runs", "trigger", "nope", "--wait")
    assert missing.returncode == 1
    assert "DAG 'nope' was not found" in missing.stderr
    project = make_project(tmp_path / "errs", dag_id="errs")
    assert cli(leoflow_server, "push", str(project / "dag.json")).returncode == 0
    no_run = cli(leoflow_server, "runs", "status", "errs", "manual__nope")
    assert no_run.returncode == 1
    assert "run 'manual__nope' of DAG 'errs' was not found" in no_run.stderr
    no_task = cli(leoflow_server, "logs", "errs", "manual__nope", "shout")
    assert no_task.returncode == 1 and "was not found" in no_task.stderr
    bad_conf = cli(leoflow_server, "runs", "trigger", "errs", "--conf", "[1]")
    assert bad_conf.returncode == 1 and "--conf must be a JSON object" in bad_conf.stderr


def test_trigger_wait_gives_up_at_the_timeout_and_the_run_goes_on(leoflow_server, tmp_path):
    project = make_project(tmp_path / "waits", dag_id="waits")
    assert cli(leoflow_server, "push", str(project / "dag.json")).returncode == 0  # paused
    waited = cli(leoflow_server, "runs", "trigger", "waits", "--wait", "--timeout", "1",
                 "--json")
    assert waited.returncode == 124
    assert "is paused" in waited.stderr and "stopped waiting" in waited.stderr
    result = json.loads(waited.stdout)
    assert result["timed_out"] is True and result["dag_run"]["state"] == "queued"
