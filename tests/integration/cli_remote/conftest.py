"""Servers for the remote commands to talk to, over real HTTP on 127.0.0.1.

* ``live_api``: the API on a real control plane, served by uvicorn in a thread of the test
  process, with the real ``AuthService``: the handles of tests/integration/api_leoflow's
  ``TOKENS`` are real users with real API tokens (``api_token("op-token")``,
  tests/integration/real_auth.py). Fast; for the push routes and the CLI's error messages.
* ``leoflow_server`` (tests marked ``slow``): a real ``leoflow-server`` subprocess with its
  own LEOFLOW_HOME, the bootstrap admin and a token from ``POST /auth/token``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from leoflow.engine.spec.canonical import pretty_json

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def client_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's own home (no profiles unless a test writes some); no server from the
    environment of whoever runs the tests."""
    home = tmp_path / "client-home"
    home.mkdir()
    monkeypatch.setenv("LEOFLOW_HOME", str(home))
    for name in ("LEOFLOW_SERVER", "LEOFLOW_TOKEN", "LEOFLOW_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return home


@dataclass
class LiveApi:
    url: str
    home: Path
    app: Any


@pytest.fixture
def live_api(tmp_path: Path) -> Iterator[LiveApi]:
    import uvicorn

    from leoflow.app.controlplane import start_control_plane
    from leoflow.app.settings import Settings
    from leoflow.engine.api import ApiContext, create_api
    from tests.integration.api_leoflow.conftest import TOKENS
    from tests.integration.real_auth import auth_service, enroll

    settings = Settings(home=tmp_path / "server-home",
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'server.db'}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        plane = await start_control_plane(settings, parallelism=4)
        auth = auth_service(plane.store, settings.home)
        await enroll(auth, TOKENS)
        app.state.context = ApiContext.of(plane.services, auth=auth, version="test",
                                          started_at=datetime.now(UTC))
        try:
            yield
        finally:
            await plane.stop()
            # Drop the gRPC server while its loop is alive (its __del__ needs the loop).
            app.state.context = None
            del plane
            gc.collect()

    app = create_api(version="test", lifespan=lifespan)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield LiveApi(url=f"http://127.0.0.1:{port}", home=settings.home, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(folder: Path, dag_id: str = "hello") -> Path:
    """examples/hello copied into ``folder`` (as ``dag_id``) and compiled: ``folder/dag.json``
    beside its dag.py."""
    from leoflow.engine.compiler.compile import compile_project

    shutil.copytree(ROOT / "examples" / "hello", folder,
                    ignore=shutil.ignore_patterns(".venv", "__pycache__", "dag.json"))
    if dag_id != "hello":
        for name in ("dag.py", "leoflow.yaml"):
            path = folder / name
            text = path.read_text("utf-8").replace('dag_id="hello"', f'dag_id="{dag_id}"')
            path.write_text(text.replace("dag_id: hello", f"dag_id: {dag_id}"), "utf-8")
    compiled = compile_project(folder)
    (folder / "dag.json").write_text(pretty_json(compiled.document(dag_id)), "utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """examples/hello, compiled: ``<tmp>/hello/dag.json`` beside its dag.py."""
    return make_project(tmp_path / "hello")


# -- a real leoflow-server ---------------------------------------------------------------------
@dataclass
class RealServer:
    url: str
    home: Path
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")


BOOTSTRAP_PASSWORD = "cli-remote-test-password-1"


@pytest.fixture(scope="module")
def leoflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """One server per test module (it takes seconds to start): tests share it, so each
    uses its own DAG ids."""
    tmp_path = tmp_path_factory.mktemp("leoflow-server")
    home = tmp_path / "server-home"
    home.mkdir()
    port = free_port()
    env = {**os.environ, "LEOFLOW_HOME": str(home),
           "LEOFLOW_BOOTSTRAP_PASSWORD": BOOTSTRAP_PASSWORD}
    for name in ("LEOFLOW_SERVER", "LEOFLOW_TOKEN", "LEOFLOW_PROFILE", "LEOFLOW_DATABASE_URL"):
        env.pop(name, None)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "leoflow.app.server", "--host", "127.0.0.1", "--port",
             str(port), "--log-json"], env=env, stdout=log, stderr=subprocess.STDOUT,
            cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"leoflow-server exited ({process.returncode}):\n"
                            f"{log_path.read_text('utf-8', 'replace')}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/v2/version", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "leoflow-server did not start"
            time.sleep(0.1)
        response = httpx.post(f"{url}/auth/token", json={
            "username": "admin", "password": BOOTSTRAP_PASSWORD})
        assert response.status_code == 201, response.text
        yield RealServer(url=url, home=home, token=response.json()["access_token"],
                         process=process, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
