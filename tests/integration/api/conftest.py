"""Fixtures of the API tests: the real control plane (store, scheduler, agents, executors)
behind the real FastAPI app, driven in process over httpx's ASGI transport.

Authentication is the real ``AuthService`` too: each handle of ``TOKENS`` is a real user
with a real API token (tests/integration/real_auth.py), so role and tenant rules are checked
against the store as in production; any other token is refused by the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from leoflow import __version__
from leoflow.app.controlplane import ControlPlane, start_control_plane
from leoflow.app.settings import Settings
from leoflow.engine.api import ApiContext, create_api
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.compiler.compile import compile_project, load_project_config
from leoflow.engine.spec.canonical import with_content_hash
from tests.conftest import _asyncpg_url
from tests.integration.real_auth import auth_service, authorization, enroll

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
TERMINAL_RUN_STATES = ("success", "failed")
CLIENT_302 = "apache-airflow-client==3.0.2"

TOKENS = {
    "admin-token": Principal("admin", "Admin"),
    "op-token": Principal("olga", "Op"),
    "user-token": Principal("ursula", "User"),
    "viewer-token": Principal("victor", "Viewer"),
    "other-tenant-token": Principal("mallory", "Admin", tenant="other"),
}


def headers(token: str = "admin-token") -> dict[str, str]:
    """``Authorization`` for a handle of ``TOKENS`` (its real API token) or any token."""
    return authorization(token, TOKENS)


@dataclass
class Api:
    """An in-process API over a started control plane."""

    client: httpx.AsyncClient
    plane: ControlPlane
    home: Path
    auth: Any = None  # the real AuthService behind the app
    registered: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def get(self, path: str, token: str = "admin-token", **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers={**headers(token),
                                                    **kwargs.pop("headers", {})}, **kwargs)

    async def post(self, path: str, token: str = "admin-token", **kwargs: Any
                   ) -> httpx.Response:
        return await self.client.post(path, headers={**headers(token),
                                                    **kwargs.pop("headers", {})}, **kwargs)

    async def patch(self, path: str, token: str = "admin-token", **kwargs: Any
                    ) -> httpx.Response:
        return await self.client.patch(path, headers={**headers(token),
                                                    **kwargs.pop("headers", {})}, **kwargs)

    async def delete(self, path: str, token: str = "admin-token", **kwargs: Any
                     ) -> httpx.Response:
        return await self.client.delete(path, headers={**headers(token),
                                                    **kwargs.pop("headers", {})}, **kwargs)

    async def register_example(self, name: str, *, paused: bool = False,
                               tenant: str = "default") -> dict[str, Any]:
        """Build the example's environment, compile it with it, register it (as a push)."""
        return await self.register_project(EXAMPLES / name, paused=paused, tenant=tenant)

    async def register_project(self, project: Path, *, paused: bool = False,
                               tenant: str = "default") -> dict[str, Any]:
        config = load_project_config(project)
        env = await self.plane.environments.ensure(config.dag_id, config.python_version,
                                                   config.dependencies)
        compiled = await asyncio.to_thread(compile_project, project, python=str(env.python))
        document = compiled.documents[0]
        await self.plane.operations.register_dag(
            document, source_code=compiled.source, fileloc=str(compiled.dag_file),
            paused_on_create=paused, tenant=tenant)
        self.registered[document["dag_id"]] = document
        return document

    async def register_spec(self, dag_id: str, *, tasks: int = 1, tags: tuple[str, ...] = (),
                            paused: bool = True, tenant: str = "default",
                            **settings: Any) -> dict[str, Any]:
        """A small compiled DAG that is never run (no environment): for listings."""
        document = with_content_hash({
            "schema_version": 1, "dag_id": dag_id, "schedule": {"kind": "none"},
            "tags": list(tags), **settings,
            "tasks": [{"task_id": f"t{i}", "operator": "python", "callable": "f",
                       "upstream": [f"t{i - 1}"] if i else [], "trigger_rule": "all_success",
                       "inputs": {"args": [], "kwargs": {}}} for i in range(tasks)]})
        await self.plane.operations.register_dag(
            document, source_code="# generated\n", fileloc=f"/dags/{dag_id}/dag.py",
            paused_on_create=paused, tenant=tenant)
        return document

    async def wait_run(self, dag_id: str, run_id: str, timeout: float = 60.0,
                       token: str = "admin-token") -> dict[str, Any]:
        """Poll the API until the run is finished; its last DAGRunResponse."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", token)
            assert response.status_code == 200, response.text
            body = response.json()
            if body["state"] in TERMINAL_RUN_STATES:
                return body
            assert asyncio.get_running_loop().time() < deadline, f"run still {body['state']}"
            await asyncio.sleep(0.05)


@contextlib.contextmanager
def scratch_postgres(server: Any) -> Iterator[str]:
    """A new database on the session's PostgreSQL server.

    It is not dropped afterwards: the whole cluster is a throwaway of this test session
    (stopped and deleted with it), and dropping a database that a server subprocess used
    makes this pgserver build crash a backend now and then, failing an otherwise passing
    test in its teardown."""
    name = f"api_{uuid.uuid4().hex[:12]}"
    server.psql(f'CREATE DATABASE "{name}";')
    yield _asyncpg_url(server, name)


@pytest.fixture(scope="session")
def shared_venvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per-DAG environments built once for every API test module."""
    return tmp_path_factory.mktemp("venvs")


async def open_api(home: Path, database_url: str, venvs: Path) -> Api:
    home.mkdir(parents=True, exist_ok=True)
    (home / "venvs").symlink_to(venvs, target_is_directory=True)
    plane = await start_control_plane(Settings(home=home, database_url=database_url))
    auth = auth_service(plane.store, home)
    await enroll(auth, TOKENS)
    context = ApiContext.of(plane.services, auth=auth, version=__version__,
                            started_at=datetime.now(UTC))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api(context)),
                               base_url="http://leoflow.test", timeout=30.0)
    return Api(client=client, plane=plane, home=home, auth=auth)


async def close_api(api: Api) -> None:
    await api.client.aclose()
    await api.plane.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory, shared_venvs: Path
              ) -> AsyncIterator[Api]:
    """One control plane on SQLite per test module (its tests share DAGs and runs)."""
    home = tmp_path_factory.mktemp("home")
    api = await open_api(home, f"sqlite+aiosqlite:///{(home / 'leoflow.db').as_posix()}",
                         shared_venvs)
    yield api
    await close_api(api)


@pytest.fixture(scope="session")
def client_302(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtual environment holding only apache-airflow-client 3.0.2 (built with uv)."""
    uv = pytest.importorskip("uv", reason="uv is needed to build the 3.0.2 client's venv")
    binary = uv.find_uv_bin()
    folder = tmp_path_factory.mktemp("client-3.0.2") / "venv"
    made = subprocess.run([binary, "venv", "--quiet", "--python", sys.executable, str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    python = str(folder / "bin" / "python")
    installed = subprocess.run([binary, "pip", "install", "--quiet", "--python", python,
                                CLIENT_302], capture_output=True, text=True, timeout=300)
    if installed.returncode != 0:
        pytest.skip(f"cannot install {CLIENT_302} (package index unreachable?): "
                    f"{installed.stderr.strip().splitlines()[-1:]}")
    return python
