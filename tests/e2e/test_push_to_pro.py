"""Push from Lite to a Pro server: a DAG born in ``leoflow lite`` runs on a second
``leoflow-server`` process on PostgreSQL.

Both are real processes started the way a user (or the Helm chart) starts them: Lite with
its own home and workspace; the server on a fresh PostgreSQL database (pgserver) migrated
first with ``leoflow db migrate`` (the chart's pre-install hook), in production mode with the
environment the chart gives it (JWT secret, Fernet key, bootstrap password, replica id). The
only difference from a cluster is the executor: no Kubernetes API server runs here, so the
server's agents are local subprocesses (the Kubernetes executor has its own tests).

Two ways to push are covered, each followed by a run triggered on the server and awaited
through its API: ``leoflow push`` with a CI token from ``leoflow auth create-token``, and the
IDE's Push to cluster function (``leoflow.ide.push``) called in-process, which is what the
dialog's button calls. tests/integration/cli_remote covers ``leoflow push`` against a SQLite
server and its error messages; tests/integration/ide the dialog against an in-process API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LAUNCH = "import sys; from leoflow.app.cli import main; sys.exit(main())"
START_TIMEOUT = 120.0
RUN_TIMEOUT = 120.0
BOOTSTRAP_PASSWORD = "pro-bootstrap-password-7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any LEOFLOW_* of whoever runs the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def leoflow(env: dict[str, str], *args: str, timeout: float = 120) -> (
        subprocess.CompletedProcess[str]):
    return subprocess.run([sys.executable, "-c", LAUNCH, *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def wait_for_output(log: Path, process: subprocess.Popen[bytes], pattern: str,
                    timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text("utf-8", "replace"))
        if found:
            return found
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}):\n"
                                 f"{log.read_text('utf-8', 'replace')[-4000:]}")
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} within {timeout:g} s:\n"
                         f"{log.read_text('utf-8', 'replace')[-4000:]}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class Lite:
    url: str
    password: str
    home: Path
    workspace: Path


@dataclass
class Pro:
    url: str
    home: Path
    env: dict[str, str]
    log: Path
    migrate_output: str


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lite]:
    """``leoflow lite`` as a user starts it; Ctrl-C (SIGINT) at the end."""
    base = tmp_path_factory.mktemp("lite")
    home, workspace, log = base / ".leoflow", base / "leoflow", base / "lite.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "lite", "--no-browser", "--port", "0",
             "--workspace", str(workspace)], env=clean_env(LEOFLOW_HOME=str(home)),
            stdout=sink, stderr=subprocess.STDOUT, cwd=base)
    try:
        url = wait_for_output(log, process, r"is ready in [\d.]+ s: (http://127\.0\.0\.1:\d+)",
                              START_TIMEOUT).group(1)
        password = wait_for_output(log, process, r"password\s+(\S+)", 5).group(1)
        wait_for_output(log, process, r"projects registered from", START_TIMEOUT)
        yield Lite(url, password, home, workspace)
    finally:
        stop(process, signal.SIGINT)


@pytest.fixture(scope="module")
def pro(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Pro]:
    """A Pro server on its own PostgreSQL database, configured as the Helm chart does."""
    from cryptography.fernet import Fernet

    from tests.conftest import _asyncpg_url, create_database

    base = tmp_path_factory.mktemp("pro")
    name = f"pro_{secrets.token_hex(6)}"
    create_database(postgres_server, name)
    home, log = base / "home", base / "server.log"
    home.mkdir()
    env = clean_env(
        LEOFLOW_HOME=str(home),
        LEOFLOW_DATABASE_URL=_asyncpg_url(postgres_server, name),
        LEOFLOW_PRODUCTION="true",
        LEOFLOW_JWT_SECRET=secrets.token_urlsafe(48),
        LEOFLOW_FERNET_KEY=Fernet.generate_key().decode(),
        LEOFLOW_BOOTSTRAP_PASSWORD=BOOTSTRAP_PASSWORD,
        LEOFLOW_REPLICA_ID="pro-test-0",
    )
    migrated = leoflow(env, "db", "migrate")  # the chart's pre-install hook
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "leoflow.app.server", "--host", "127.0.0.1", "--port",
             str(port), "--grpc-port", str(free_port()), "--log-json"],
            env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=base)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"leoflow-server exited ({process.returncode}):\n"
                            f"{log.read_text('utf-8', 'replace')}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "leoflow-server did not start"
            time.sleep(0.1)
        yield Pro(url, home, env, log, migrated.stdout)
    finally:
        stop(process)


def login(url: str, password: str) -> str:
    response = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": password},
                          timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def wait_for_run(server: str, token: str, dag_id: str, run_id: str) -> dict[str, Any]:
    """Poll the server's API until the run ends (bounded); the run as the API returns it."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + RUN_TIMEOUT
    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        while True:
            run = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            assert run.status_code == 200, run.text
            if run.json()["state"] in ("success", "failed"):
                return run.json()
            assert time.monotonic() < deadline, f"{dag_id} {run_id} still {run.json()['state']}"
            time.sleep(0.2)


def trigger(server: str, token: str, dag_id: str) -> str:
    response = httpx.post(f"{server}/api/v2/dags/{dag_id}/dagRuns",
                          json={"logical_date": None},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["dag_run_id"]


def task_states(server: str, token: str, dag_id: str, run_id: str) -> dict[str, str]:
    response = httpx.get(f"{server}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return {t["task_id"]: t["state"] for t in response.json()["task_instances"]}


def lite_version(lite: Lite, dag_id: str) -> dict[str, Any]:
    """The version of ``dag_id`` Lite registered from its workspace (its hot reload)."""
    token = login(lite.url, lite.password)
    response = httpx.get(f"{lite.url}/api/leoflow/dags/{dag_id}/versions",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    current = [v for v in response.json()["versions"] if v["is_current"]]
    assert len(current) == 1, response.json()
    return current[0]


def test_the_server_was_migrated_and_runs_in_production_mode(pro: Pro):
    assert re.match(r"schema of postgresql\+asyncpg://\S+ upgraded from revision <none> to \S+",
                    pro.migrate_output), pro.migrate_output
    again = leoflow(pro.env, "db", "check")
    assert again.returncode == 0 and "is up to date" in again.stdout
    # Production mode: the bootstrap admin logs in; a weak secret would have stopped it.
    assert login(pro.url, BOOTSTRAP_PASSWORD)
    health = httpx.get(f"{pro.url}/api/v2/monitor/health", timeout=10).json()
    assert health["metadatabase"]["status"] == "healthy"


def test_leoflow_push_from_a_lite_workspace_then_run_on_the_server(lite: Lite, pro: Pro):
    project = lite.workspace / "examples" / "hello"
    assert (project / "dag.py").is_file(), "Lite copied its examples into the workspace"
    registered = lite_version(lite, "hello")

    # A CI token, made on the server's side against its database, as docs/cli-remote.md says.
    made = leoflow(pro.env, "auth", "create-token", "--username", "admin",
                   "--description", "push from lite", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]

    client_env = clean_env(LEOFLOW_HOME=str(lite.home))
    compiled = leoflow(client_env, "compile", str(project), "-o", str(project / "dag.json"))
    assert compiled.returncode == 0, compiled.stderr
    pushed = leoflow(client_env, "push", str(project / "dag.json"), "--server", pro.url,
                     "--token", token, "--unpause", "--json")
    assert pushed.returncode == 0, pushed.stderr
    version = json.loads(pushed.stdout)
    assert (version["dag_id"], version["version_number"], version["is_paused"]) == (
        "hello", 1, False)
    # The very DAG Lite runs: the same content hash.
    assert version["content_hash"] == registered["content_hash"]

    run_id = trigger(pro.url, token, "hello")
    run = wait_for_run(pro.url, token, "hello", run_id)
    assert run["state"] == "success", task_states(pro.url, token, "hello", run_id)
    assert task_states(pro.url, token, "hello", run_id) == {
        "make_greeting": "success", "shout": "success"}
    log = httpx.get(f"{pro.url}/api/v2/dags/hello/dagRuns/{run_id}/taskInstances/shout/logs/1",
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    timeout=30)
    assert log.status_code == 200 and "HELLO, LEOFLOW!" in log.text


def test_the_ides_push_to_cluster_then_run_on_the_server(lite: Lite, pro: Pro):
    from leoflow.app.settings import Settings
    from leoflow.ide.push import compile_for_push, push_document

    project = lite.workspace / "examples" / "taskflow_etl"
    token = login(pro.url, BOOTSTRAP_PASSWORD)
    # What the dialog's Push button does, with the Lite's own settings (its home, where its
    # environments are): compile the project now, then POST the document and its source.
    plane = SimpleNamespace(home=Settings.load(env={"LEOFLOW_HOME": str(lite.home)}).home)

    async def push() -> Any:
        document, source = await compile_for_push(plane, project, "taskflow_etl")
        return await push_document(pro.url, token, document, source)

    outcome = asyncio.run(push())
    assert outcome.ok and outcome.created, outcome.message
    assert outcome.message.startswith(f"taskflow_etl registered as version 1 on {pro.url}. "
                                      "It is paused there"), outcome.message
    assert asyncio.run(push()).message.startswith(
        f"taskflow_etl unchanged: already version 1 on {pro.url}")

    headers = {"Authorization": f"Bearer {token}"}
    dag = httpx.get(f"{pro.url}/api/v2/dags/taskflow_etl", headers=headers, timeout=30).json()
    assert dag["is_paused"] is True  # a pushed DAG starts paused
    assert httpx.patch(f"{pro.url}/api/v2/dags/taskflow_etl", json={"is_paused": False},
                       headers=headers, timeout=30).status_code == 200
    run_id = trigger(pro.url, token, "taskflow_etl")
    run = wait_for_run(pro.url, token, "taskflow_etl", run_id)
    states = task_states(pro.url, token, "taskflow_etl", run_id)
    assert run["state"] == "success", states
    assert states and set(states.values()) == {"success"}
