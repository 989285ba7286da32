"""Real ``leoflow-server`` processes for the Pro tests (HA, Redis datastores)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from leoflow.engine.compiler.compile import compile_project

PASSWORD = "pro-test-bootstrap-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def ha(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/leoflow/ha", timeout=2).json()

    def api(self) -> httpx.Client:
        """A client logged in as the bootstrap admin."""
        token = httpx.post(f"{self.url}/auth/token", json={
            "username": "admin", "password": PASSWORD}, timeout=10).json()["access_token"]
        return httpx.Client(base_url=self.url, timeout=120,
                            headers={"Authorization": f"Bearer {token}"})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, folder: Path, *, home: Path, env: Mapping[str, str],
                 args: tuple[str, ...] = ()) -> ServerProcess:
    """Start ``leoflow-server`` on 127.0.0.1 and wait until its API answers (60 s)."""
    port = free_port()
    full = {**os.environ, "LEOFLOW_HOME": str(home), "LEOFLOW_BOOTSTRAP_PASSWORD": PASSWORD,
            "LEOFLOW_REPLICA_ID": name, **env}
    for unset in ("LEOFLOW_SERVER", "LEOFLOW_TOKEN", "LEOFLOW_PROFILE"):
        full.pop(unset, None)
    if "LEOFLOW_REDIS_URL" not in env:
        full.pop("LEOFLOW_REDIS_URL", None)
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "leoflow.app.server", "--host", "127.0.0.1", "--port",
             str(port), *args], env=full, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    server = ServerProcess(name, f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"server {name} exited ({process.returncode}):\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/api/v2/version", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"server {name} did not start:\n{server.log()}")
        time.sleep(0.1)


def push_project(api: httpx.Client, folder: Path, dag_id: str, source: str) -> None:
    """Write, compile and push a one-file DAG project, unpaused."""
    folder.mkdir()
    (folder / "dag.py").write_text(source, "utf-8")
    (folder / "leoflow.yaml").write_text(
        f'dag_id: {dag_id}\npython_version: "3.11"\ndependencies: []\n', "utf-8")
    document = compile_project(folder).document(dag_id)
    pushed = api.post("/api/leoflow/dags", json={**document, "source_code": source})
    assert pushed.status_code == 201, pushed.text
    unpaused = api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    assert unpaused.status_code == 200, unpaused.text


def wait_until(condition: Any, timeout: float, what: str, *servers: ServerProcess) -> float:
    """Seconds until ``condition()`` held; fails with the servers' log tails."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what} within {timeout} s\n" + "\n".join(
                f"--- {s.name}\n{s.log()[-6000:]}" for s in servers))
        time.sleep(0.05)
    return time.monotonic() - start
