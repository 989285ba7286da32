"""Compiling a tenant's project, attacked for real (issue 15, item 7: compile time).

A tenant's ``dag.py`` runs when its project is compiled, before any task: its top-level code
is the tenant's code as much as its tasks are. Here tenant B's project, hot-reloaded as
``leoflow lite`` and ``leoflow-server --dags-folder`` do it, reads the control plane's JWT
secret, Fernet key and database file and the server's ``/proc/<pid>/environ`` at import,
writes what it got to a file, then reads the JWT secret plainly. On a root control plane
the compile child runs as B's task user: every read is ``PermissionError``, and the last one
is the project's import error, naming the secret's file and the line. Tenant B's ordinary
project compiles (as B's user, helper module included) and runs; the default tenant's
project compiles as the control plane's user, as before. A DAG file of B outside any
project (the workspace's plain folder) is refused the same way. A control plane that is not
root refuses to compile B's project (the "am I root" answer is simulated, the refusal is
real) unless LEOFLOW_ALLOW_SHARED_UID allows it.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from leoflow.app.settings import Settings, lite_database_url
from leoflow.engine.auth.config import FERNET_KEY_FILE, JWT_SECRET_FILE, AuthConfig, jwt_secret
from leoflow.engine.executors.isolation import account_name
from leoflow.engine.reload.reloader import Reloader
from leoflow.engine.store import dags
from tests.e2e.harness import Harness, open_plane
from tests.task_user_reach import passage_for_task_users

pytestmark = pytest.mark.slow
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="switching to a tenant's user needs root")

PROJECTS = Path(__file__).parent / "projects" / "compile_isolation"
TENANT = "tenant-b"
SERVER_SECRET = "server-environment-secret"


@dataclass
class World:
    home: Path
    workspace: Path
    evidence: Path  # where the hostile dag.py writes what it read

    @property
    def url(self) -> str:
        return lite_database_url(self.home)

    def targets(self) -> dict[str, object]:
        return {"read": {"jwt_secret": str(self.home / JWT_SECRET_FILE),
                         "fernet_key": str(self.home / FERNET_KEY_FILE),
                         "database": str(self.home / "leoflow.db"),
                         "server_environ": f"/proc/{os.getpid()}/environ"},
                "evidence": str(self.evidence / "evidence.json")}

    def add(self, name: str, where: str) -> Path:
        """Copy a project (or a loose DAG file's folder) to ``where`` in the workspace, with
        its targets.json, private as the IDE leaves a tenant's files."""
        target = self.workspace / where
        source = PROJECTS / name
        if (source / "leoflow.yaml").exists():
            shutil.copytree(source, target)
            folder = target
        else:  # loose files land in the folder itself
            target.mkdir(parents=True, exist_ok=True)
            for item in source.iterdir():
                shutil.copy(item, target / item.name)
            folder = target
        (folder / "targets.json").write_text(json.dumps(self.targets()))
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)
        return folder

    def read_evidence(self) -> dict[str, object]:
        return json.loads((self.evidence / "evidence.json").read_text())


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    home = Path(tempfile.mkdtemp(prefix="leoflow-ciso-home-"))
    workspace = Path(tempfile.mkdtemp(prefix="leoflow-ciso-ws-"))
    evidence = Path(tempfile.mkdtemp(prefix="leoflow-ciso-evidence-"))
    evidence.chmod(0o777)  # the tenant's user writes there what it could read
    monkeypatch.setenv("LEOFLOW_BOOTSTRAP_PASSWORD", SERVER_SECRET)  # in the server's env
    try:
        jwt_secret(AuthConfig.from_settings(Settings(home=home,
                                                      database_url=lite_database_url(home))))
        yield World(home, workspace, evidence)
    finally:
        for folder in (home, workspace, evidence):
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def reachable(world: World) -> Iterator[None]:
    """The tenant's user may pass through the folders above this machine's Python (under
    /root here), as it could where Python is installed for every user."""
    with passage_for_task_users(world.home, world.workspace):
        yield


@pytest.fixture
async def plane(world: World) -> AsyncIterator[tuple[Harness, Reloader]]:
    async with open_plane(world.home, world.url, code_roots=[world.workspace]) as harness:
        reloader = Reloader(world.workspace, harness.plane, watch=False)
        await reloader.start(scan=False)
        try:
            yield harness, reloader
        finally:
            await reloader.stop()


async def _description(harness: Harness, dag_id: str) -> tuple[str, str | None]:
    """The DAG's tenant and the description its current version was compiled with."""
    async with harness.plane.store.connect() as conn:
        dag = await dags.get_dag(conn, dag_id)
        version = await dags.current_version(conn, dag_id)
    assert dag is not None and version is not None, dag_id
    spec = version.spec if isinstance(version.spec, dict) else json.loads(version.spec)
    return dag.tenant, spec.get("description")


def _uid(tenant: str) -> int:
    return pwd.getpwnam(account_name(tenant)).pw_uid


@needs_root
@pytest.mark.usefixtures("reachable")
async def test_a_tenants_dag_file_cannot_read_the_secrets_while_it_compiles(
        world: World, plane: tuple[Harness, Reloader]) -> None:
    harness, reloader = plane
    steal = world.add("steal", f"tenants/{TENANT}/steal")
    good = world.add("good", f"tenants/{TENANT}/good")
    mine = world.add("default_owner", "default_owner")

    status = await reloader.reload_now(steal)
    assert status.state == "failed", status
    error = status.error
    assert error is not None and error.kind == "import", error
    secret_file = str(world.home / JWT_SECRET_FILE)
    plain_read = 1 + (PROJECTS / "steal/dag.py").read_text().splitlines().index(
        'with open(TARGETS["read"]["jwt_secret"]) as handle:  # the import error, when refused')
    assert error.file == f"tenants/{TENANT}/steal/dag.py" and error.line == plain_read, error
    assert "PermissionError" in error.message and secret_file in error.message, error
    evidence = world.read_evidence()
    uid_b = _uid(TENANT)
    assert evidence["uid"] == uid_b != 0
    assert evidence["results"] == {name: "PermissionError"
                                   for name in world.targets()["read"]}  # type: ignore[union-attr]
    # none of the server's variables: what a process needs to start, its own HOME
    assert set(evidence["environ"]) <= {  # type: ignore[arg-type]
        "PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR", "USER", "LOGNAME",
        "LEOFLOW_COMPILE_TREE"}, evidence["environ"]
    assert SERVER_SECRET not in json.dumps(evidence)
    async with harness.plane.store.connect() as conn:
        assert await dags.get_dag(conn, "iso_compile_steal") is None

    # an ordinary project of the same tenant compiles as its user, and runs
    status = await reloader.reload_now(good)
    assert status.ok, status.error
    assert await _description(harness, "iso_compile_good") == (
        TENANT, f"compiled by uid {uid_b}")
    await harness.plane.operations.set_paused("iso_compile_good", False)
    run = await harness.trigger("iso_compile_good")
    await harness.wait(run, 90.0)
    result = await harness.result(run)
    assert result.state == "success", result.tasks
    assert result.xcom["greet"] == {"greeting": "hello from tenant b's helper", "uid": uid_b}

    # the default tenant's project: the control plane's user, as before
    status = await reloader.reload_now(mine)
    assert status.ok, status.error
    assert await _description(harness, "iso_compile_default") == (
        "default", "compiled by uid 0, home readable: True")
    # the folders the tenant's compiles ran in are gone with them
    tries = Path(tempfile.gettempdir()) / f"leoflow-tries-{os.getuid()}"
    assert not list(tries.glob("compile.*"))


@needs_root
@pytest.mark.usefixtures("reachable")
async def test_a_loose_dag_file_in_a_tenants_folder_compiles_as_its_user(
        world: World, plane: tuple[Harness, Reloader]) -> None:
    harness, reloader = plane
    world.add("loose", f"tenants/{TENANT}")
    status = await reloader.reload_now(world.workspace)  # the plain folder of the workspace
    assert status.state == "failed", status
    error = status.error
    assert error is not None and error.file == f"tenants/{TENANT}/loose_dag.py", error
    assert "PermissionError" in error.message
    assert str(world.home / JWT_SECRET_FILE) in error.message, error
    async with harness.plane.store.connect() as conn:
        assert await dags.get_dag(conn, "iso_compile_loose") is None


async def test_not_root_refuses_to_compile_another_tenants_project(
        world: World, plane: tuple[Harness, Reloader]) -> None:
    harness, reloader = plane
    users = harness.plane.subprocess_executor.task_users
    assert users is not None
    users.is_root, users.allow_shared = False, False  # a control plane of a plain user
    steal = world.add("steal", f"tenants/{TENANT}/steal")
    mine = world.add("default_owner", "default_owner")

    status = await reloader.reload_now(steal)
    assert status.state == "failed" and status.error is not None
    error = status.error
    assert error.kind == "isolation" and error.file == f"tenants/{TENANT}/steal/dag.py"
    assert "refused to compile" in error.message and "not root" in error.message, error
    assert "LEOFLOW_ALLOW_SHARED_UID=1" in error.message
    assert not (world.evidence / "evidence.json").exists()  # its code never ran
    status = await reloader.reload_now(mine)  # the default tenant's compiles
    assert status.ok, status.error

    users.allow_shared = True  # the documented, unsafe way out
    status = await reloader.reload_now(steal, force=True)
    # and why it is unsafe: the compile, as the control plane's user, read the secrets
    assert world.read_evidence()["results"]["jwt_secret"].startswith("READ")  # type: ignore[index]
    assert status.ok, status.error
