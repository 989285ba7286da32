"""The IDE's page logic, tested with NiceGUI's ``User`` (a simulated browser: no Chromium).

NiceGUI's own ``user`` fixture runs a ``main_file`` through ``ui.run``; the IDE is mounted
on a FastAPI app with ``ui.run_with`` instead, so ``ide`` does what that fixture does
(``nicegui_reset_globals``, the app's lifespan, an ``httpx`` client on the ASGI app) around
the real ``mount``. Everything behind the pages is real: a control plane on a SQLite file
(scheduler, subprocess executor, agents), the AuthService, the compiler. Per-DAG
environments are built once per session under a shared LEOFLOW_HOME.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

# nicegui is a third-party package of the optional "lite" extra (pip install .[lite]):
# without it there is no IDE to test. Leoflow's own modules are imported plainly, so
# an import error in them fails the suite instead of skipping it.
pytest.importorskip("nicegui", reason="the IDE needs the lite extra: pip install .[lite]")

from fastapi import FastAPI
from nicegui import ui
from nicegui.testing import User, UserInteraction
from nicegui.testing.general import nicegui_reset_globals

from leoflow.app.controlplane import ControlPlane, start_control_plane
from leoflow.app.settings import Settings
from leoflow.app.workspace import copy_examples
from leoflow.engine.auth.config import AuthConfig
from leoflow.engine.auth.service import AuthService
from leoflow.engine.reload.reloader import Reloader
from leoflow.ide import EventHub, IdeServices, mount

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
PASSWORD = "ide-test-password-1"


@pytest.fixture(scope="session")
def ide_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Leoflow home of the suite (environments, logs), passed explicitly to each part."""
    return tmp_path_factory.mktemp("ide-home")


@pytest.fixture(scope="session")
def environments(ide_home: Path) -> dict[str, Path]:
    """The per-DAG environments of the example projects the tests run (uv, made once)."""
    from leoflow.engine.compiler.compile import load_project_config
    from leoflow.engine.environments.manager import EnvironmentManager

    async def build() -> dict[str, Path]:
        built = {}
        for name in ("hello", "montecarlo_pi"):
            config = load_project_config(EXAMPLES / name)
            env = await EnvironmentManager(ide_home).ensure(
                config.dag_id, config.python_version, config.dependencies)
            built[config.dag_id] = env.python
        return built

    return asyncio.run(build())


@pytest.fixture
async def plane(ide_home: Path, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    settings = Settings(home=ide_home,
                        database_url=f"sqlite+aiosqlite:///{(tmp_path / 'ide.db').as_posix()}")
    started = await start_control_plane(settings)
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def auth(plane: ControlPlane, ide_home: Path) -> Any:
    return await AuthService.open(
        plane.store, AuthConfig(home=ide_home, bootstrap_password=PASSWORD))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "examples").mkdir(parents=True)
    for name in ("hello", "montecarlo_pi"):
        shutil.copytree(EXAMPLES / name, root / "examples" / name)
    return root


def fake_copy_examples(source: Path) -> Callable[..., Any]:
    """The lite command's ``copy_examples`` (what ``leoflow lite`` passes), over ``source``."""

    def copy(workspace: Path, overwrite: Callable[[str], bool] | None = None) -> Any:
        return copy_examples(workspace, overwrite, source=source)

    return copy


@dataclass
class Ide:
    user: User
    services: IdeServices
    hub: EventHub
    plane: ControlPlane
    workspace: Path
    reloader: Reloader

    def elements(self, testid: str, *, visible: bool = True) -> list[ui.element]:
        """The page's elements whose ``data-testid`` is ``testid`` (the Playwright suite
        uses the same attribute); only visible ones unless ``visible=False``."""
        client = self.user.client
        if client is None:
            return []
        return [e for e in list(client.elements.values())
                if e.props.get("data-testid") == testid and not e.is_deleted
                and (e.visible or not visible)]

    async def element(self, testid: str, timeout: float = 10.0, *,
                      visible: bool = True) -> ui.element:
        found = await wait_for(lambda: self.elements(testid, visible=visible), timeout,
                               f"[{testid}]")
        return found[0]

    async def find(self, testid: str, timeout: float = 10.0) -> UserInteraction:
        return UserInteraction(self.user, {await self.element(testid, timeout)}, None)

    async def see(self, text: str, timeout: float = 15.0) -> None:
        """``should_see`` with time for real work (password hashing, compiles, runs)."""
        await self.user.should_see(text, retries=max(3, int(timeout / 0.1)))

    async def login(self, password: str = PASSWORD) -> None:
        await self.user.open("/login")
        (await self.find("login-username")).type("admin")
        (await self.find("login-password")).type(password)
        (await self.find("login-submit")).click()
        await self.element("download-examples")

    async def register(self, project: str) -> dict[str, int]:
        """Compile and register a workspace project through the hot reloader, as Lite's
        first scan does."""
        status = await self.reloader.reload_now(self.workspace / project)
        assert status.ok, status.error
        return dict(status.versions)


@pytest.fixture
async def reloader(plane: ControlPlane, workspace: Path,
                   environments: dict[str, Path]) -> AsyncIterator[Reloader]:
    """The hot reloader watching the workspace, wired as ``leoflow lite`` wires it: the IDE
    saves through it (``reload_now``) and its events reach the pages. The examples'
    environments are built beforehand (once per session), so a compile does not wait for uv."""
    watching = Reloader(workspace)
    watching.plane = plane.services
    await watching.start(scan=False)
    try:
        yield watching
    finally:
        await watching.stop()


@pytest.fixture
async def ide(plane: ControlPlane, auth: Any, workspace: Path, reloader: Reloader,
              caplog: pytest.LogCaptureFixture) -> AsyncIterator[Ide]:
    """A logged-out simulated user of a mounted IDE, with Lite's hot reloader; like NiceGUI's
    ``user`` fixture, the test fails when anything logged an ERROR (a page or a background
    task raised)."""
    services = IdeServices(workspace=workspace, plane=plane.services, auth=auth,
                           reloader=reloader,
                           copy_examples=fake_copy_examples(EXAMPLES))
    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        try:
            app = FastAPI()
            hub = mount(app, services, storage_secret="ide-tests-secret-" + "x" * 20)
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app), base_url="http://test") as client:
                yield Ide(User(client), services, hub, plane, workspace, reloader)
        finally:
            os.environ.pop("NICEGUI_USER_SIMULATION", None)
    errors = [r for r in caplog.get_records("call") if r.levelname == "ERROR"]
    if errors:
        pytest.fail("errors were logged: " + "; ".join(r.getMessage() for r in errors),
                    pytrace=False)


async def wait_for(condition: Callable[[], Any], timeout: float = 30.0,
                   what: str = "condition") -> Any:
    """Poll a cheap in-memory condition (tests only) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(0.05)
