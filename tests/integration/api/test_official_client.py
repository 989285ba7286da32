"""A real ``leoflow-server`` (subprocess, 127.0.0.1, its own LEOFLOW_HOME, the bootstrap
admin) driven by the official ``apache-airflow-client`` exactly as a user's script drives
Airflow: token, list DAGs, unpause, trigger, poll to success, task instances, an XCom value,
a log, the source, a dry-run clear.

The script runs in its own process: with the client installed here (3.3.2), and with
client 3.0.2 from a virtual environment that ``uv`` builds for it (skipped, saying why,
when the package index cannot be reached). The same flow runs against the server on
PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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

from tests.integration.api.conftest import scratch_postgres

ROOT = Path(__file__).resolve().parents[3]
FLOW = Path(__file__).with_name("client_flow.py")
PASSWORD = "official-client-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def console_script(name: str) -> list[str]:
    """The installed console script beside this interpreter (as a user would run it)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return [found]
    module = {"leoflow-server": "leoflow.app.server", "leoflow": "leoflow.app.cli"}[name]
    return [sys.executable, "-m", module]


@dataclass
class Server:
    url: str
    home: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")[-4000:]

    def token(self) -> str:
        response = httpx.post(f"{self.url}/auth/token",
                              json={"username": "admin", "password": PASSWORD}, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["access_token"]


@contextlib.contextmanager
def start_server(folder: Path, database_url: str | None = None) -> Iterator[Server]:
    home = folder / "server-home"
    home.mkdir(parents=True)
    port = free_port()
    env = {**os.environ, "LEOFLOW_HOME": str(home), "LEOFLOW_BOOTSTRAP_PASSWORD": PASSWORD}
    for name in ("LEOFLOW_DATABASE_URL", "LEOFLOW_SERVER", "LEOFLOW_TOKEN", "LEOFLOW_PROFILE"):
        env.pop(name, None)
    command = [*console_script("leoflow-server"), "--host", "127.0.0.1", "--port", str(port)]
    if database_url:
        command += ["--database-url", database_url]
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(url=f"http://127.0.0.1:{port}", home=home, log_path=log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"leoflow-server exited:\n{server.log()}"
            assert time.monotonic() < deadline, f"leoflow-server did not start:\n{server.log()}"
            try:
                if httpx.get(f"{server.url}/api/v2/monitor/health", timeout=2).status_code \
                        == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        push_hello(server, folder)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def push_hello(server: Server, folder: Path) -> None:
    """``leoflow compile examples/hello -o dag.json``, then register it on the server through
    its push route (the server builds the DAG's environment)."""
    target = folder / "dag.json"
    compiled = subprocess.run(
        [*console_script("leoflow"), "compile", str(ROOT / "examples" / "hello"), "-o",
         str(target)], capture_output=True, text=True, timeout=120, cwd=folder)
    assert compiled.returncode == 0, compiled.stderr
    body = {**json.loads(target.read_text("utf-8")),
            "source_code": (ROOT / "examples" / "hello" / "dag.py").read_text("utf-8")}
    response = httpx.post(f"{server.url}/api/leoflow/dags", json=body, timeout=120,
                          headers={"Authorization": f"Bearer {server.token()}"})
    assert response.status_code == 201, response.text


def run_flow(python: str, server: Server) -> dict[str, Any]:
    done = subprocess.run([python, str(FLOW), server.url, "admin", PASSWORD, "hello"],
                          capture_output=True, text=True, timeout=180,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, f"{done.stderr}\n--- server log ---\n{server.log()}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_flow(result: dict[str, Any], version: str) -> None:
    assert result["client"] == version
    assert result["health"] == "healthy" and result["version"]
    assert result["dags"] == ["hello"] and result["total_dags"] == 1
    assert result["details_catchup"] is False
    assert result["paused_after_patch"] is False
    assert result["triggered_state"] == "queued"
    assert result["run_state"] == "success"
    assert result["task_instances"] == [["make_greeting", "success", 1],
                                        ["shout", "success", 1]]
    assert result["shout_try"] == 1 and result["tries"] == 1
    assert result["xcom"] == "Hello, Leoflow!"
    assert result["xcom_keys"] == ["return_value"]
    assert "HELLO, LEOFLOW!" in result["log"]
    assert result["source_has_dag"] is True
    assert result["import_errors"] == 0
    assert result["clear_dry_run"] == ["shout"]


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server-sqlite")) as server:
        yield server


def test_client_3_3_against_leoflow_server(sqlite_server: Server) -> None:
    from importlib import metadata

    version = metadata.version("apache-airflow-client")
    check_flow(run_flow(sys.executable, sqlite_server), version)


def test_client_3_0_against_leoflow_server(sqlite_server: Server, client_302: str) -> None:
    check_flow(run_flow(client_302, sqlite_server), "3.0.2")


@pytest.mark.postgres
def test_client_against_leoflow_server_on_postgres(postgres_server: Any,
                                                   tmp_path: Path) -> None:
    from importlib import metadata

    with scratch_postgres(postgres_server) as url, start_server(tmp_path, url) as server:
        check_flow(run_flow(sys.executable, server), metadata.version("apache-airflow-client"))
