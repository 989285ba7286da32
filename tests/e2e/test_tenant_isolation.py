"""Tenant isolation under the subprocess executor, attacked for real (issue 15, item 7).

A hostile tenant B runs tasks that try to read the control plane's JWT secret, Fernet key
and database file, tenant A's project files, A's DAG environment and pinned code, and the
server's environment: from its Python code, from a bash command, and from a Jinja template
the agent renders. On a root control plane each tenant's tries run as an OS user of its own
(the switch is real: ``useradd``, setuid in the forked agent); every read must end in
PermissionError, while tenant A's tasks run normally. A control plane that is not root
serves one tenant and refuses a second one's tasks (the "am I root" answer is simulated
there, the refusal is real), unless LEOFLOW_ALLOW_SHARED_UID allows it.

This machine's Python lives under /root (0700): for the module's duration, task users may
pass through (``--x``, no listing) the closed folders on its way, as an operator would
install Python where other users can run it; undone at the end.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leoflow.app.cmd_run import one_off_document
from leoflow.app.settings import Settings, lite_database_url
from leoflow.engine.auth.config import FERNET_KEY_FILE, JWT_SECRET_FILE, AuthConfig, jwt_secret
from leoflow.engine.executors import posix_acl as acl
from leoflow.engine.executors.isolation import TASKS_GROUP, account_name
from tests.e2e.harness import Harness, Prepared, Projects, RunResult, open_plane

pytestmark = pytest.mark.slow

PROJECTS = Path(__file__).parent / "projects" / "tenant_isolation"
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="switching to a tenant's user needs root")
A_SECRET = "a-project-secret-0600"
SERVER_SECRET = "server-environment-secret"


def _closed_folders_above_python() -> list[Path]:
    targets = {Path(os.path.realpath(sys.executable)), Path(os.__file__).resolve()}
    return sorted({folder for target in targets for folder in target.parents
                   if not os.stat(folder).st_mode & 0o001})


@pytest.fixture
def reachable_python() -> Iterator[None]:
    """Let task users pass through the closed folders above this machine's Python."""
    if not ROOT:
        yield
        return
    try:
        gid = grp.getgrnam(TASKS_GROUP).gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", TASKS_GROUP], check=True)
        gid = grp.getgrnam(TASKS_GROUP).gr_gid
    opened: list[Path] = []
    for folder in _closed_folders_above_python():
        if not acl.named_perms(folder, gid=gid) & acl.EXECUTE:
            acl.grant(folder, perms=acl.EXECUTE, gid=gid)
            opened.append(folder)
    try:
        yield
    finally:
        for folder in opened:
            acl.revoke(folder, gid=gid)


@dataclass
class World:
    home: Path
    workspace: Path
    a: Prepared
    b: Prepared

    @property
    def url(self) -> str:
        return lite_database_url(self.home)


def _as_ide_writes(folder: Path) -> None:
    """Folders 0700 and files 0600, as the IDE leaves a tenant's workspace."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    # private folders of the control plane's user, as LEOFLOW_HOME and a workspace are
    home = Path(tempfile.mkdtemp(prefix="leoflow-iso-home-"))
    workspace = Path(tempfile.mkdtemp(prefix="leoflow-iso-ws-"))
    monkeypatch.setenv("LEOFLOW_BOOTSTRAP_PASSWORD", SERVER_SECRET)  # in the server's env
    try:
        prepared = []
        for tenant, name in (("tenant-a", "tenant_a"), ("tenant-b", "tenant_b")):
            project = workspace / "tenants" / tenant / name
            shutil.copytree(PROJECTS / name, project)
            if tenant == "tenant-a":
                (project / "secret.txt").write_text(A_SECRET + "\n")
            _as_ide_writes(workspace / "tenants")
            prepared.append(await Projects(home).prepare(project))
        # a secret in tenant A's environment (a private package would be one)
        (prepared[0].environment.path / "a_venv_secret.txt").write_text("venv secret\n")
        # the secrets a server keeps in its home (the API signs tokens with the first)
        jwt_secret(AuthConfig.from_settings(Settings(home=home,
                                                      database_url=lite_database_url(home))))
        yield World(home, workspace, *prepared)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(workspace, ignore_errors=True)


async def _run(harness: Harness, prepared: Prepared, tenant: str,
               conf: dict[str, Any] | None = None) -> RunResult:
    document = one_off_document(prepared.document())
    await harness.plane.operations.register_dag(
        document, source_code=prepared.compiled.source,
        fileloc=str(prepared.compiled.dag_file), paused_on_create=False, tenant=tenant)
    run = await harness.trigger(str(document["dag_id"]), conf)
    await harness.wait(run, 90.0)
    return await harness.result(run)


def _targets(world: World) -> dict[str, str]:
    a_project = world.a.compiled.dag_file.parent
    return {
        "jwt_secret": str(world.home / JWT_SECRET_FILE),
        "fernet_key": str(world.home / FERNET_KEY_FILE),
        "database": str(world.home / "leoflow.db"),
        "home_listing": str(world.home),
        "a_secret_file": str(a_project / "secret.txt"),
        "a_dag_file": str(a_project / "dag.py"),
        "a_tenant_folder": str(a_project.parent),
        "a_environment_secret": str(world.a.environment.path / "a_venv_secret.txt"),
        "a_environment_python": str(world.a.environment.path / "pyvenv.cfg"),
        "a_pinned_code": str(world.home / "code" / "iso_tenant_a"),
        "server_environ": f"/proc/{os.getpid()}/environ",
    }


def _lines(result: RunResult, task_id: str) -> str:
    return "\n".join(record.event for record in result.logs.get(task_id, {}).get(1, []))


def _uid(tenant: str) -> int:
    import pwd

    return pwd.getpwnam(account_name(tenant)).pw_uid


@needs_root
async def test_a_tenant_cannot_read_the_control_plane_nor_another_tenant(
        world: World, reachable_python: None) -> None:
    async with open_plane(world.home, world.url, code_roots=[world.workspace]) as harness:
        a = await _run(harness, world.a, "tenant-a")
        b = await _run(harness, world.b, "tenant-b", {"targets": _targets(world)})
        # an agent started without the fork server (its fallback) switches users too
        harness.plane.subprocess_executor.fork_server = False
        plain = await _run(harness, world.a, "tenant-a")
    assert plain.state == "success" and plain.xcom["own_files"]["uid"] == _uid("tenant-a")

    # tenant A's tasks ran normally, as A's own user
    assert a.state == "success", a.tasks
    uid_a, uid_b = _uid("tenant-a"), _uid("tenant-b")
    assert len({0, uid_a, uid_b}) == 3
    found = a.xcom["own_files"]
    assert found["uid"] == uid_a
    assert found["secret"] == A_SECRET and found["helper"] == "helper-of-a"
    assert found["scratch"] == "written by a" and found["home"] == found["tmp"]
    assert a.xcom["check"] == f"{A_SECRET}+helper-of-a"  # pulled A's XCom
    assert a.xcom["bash_own"] == f"{uid_a} {A_SECRET} from-bash"
    assert not Path(found["tmp"]).exists()  # the try's own folder is gone with it

    # every read of tenant B was refused: in its results and in its log
    assert b.state == "success", b.tasks
    attack = b.xcom["attack"]
    assert attack["uid"] == uid_b
    assert attack["results"] == {name: "PermissionError" for name in _targets(world)}
    log = _lines(b, "attack")
    for path in _targets(world).values():
        assert f"{path}: PermissionError" in log
    assert "READ" not in log
    # no secret of the server in the task's environment
    assert not {"LEOFLOW_TOKEN", "LEOFLOW_BOOTSTRAP_PASSWORD", "LEOFLOW_DATABASE_URL",
                "LEOFLOW_HOME", "LEOFLOW_JWT_SECRET", "LEOFLOW_FERNET_KEY"} & set(
                    attack["leoflow_env"])
    assert SERVER_SECRET not in log
    # the agent rendering B's template is B's user too; so is B's bash command
    assert "Permission denied" in b.xcom["template_attack"]
    assert b.xcom["bash_attack"] == str(uid_b)
    assert "Permission denied" in _lines(b, "bash_attack")
    jwt = (world.home / JWT_SECRET_FILE).read_text().strip()
    fernet = (world.home / FERNET_KEY_FILE).read_text().strip()
    for task_id in ("attack", "template_attack", "bash_attack"):
        assert jwt not in _lines(b, task_id) and fernet not in _lines(b, task_id)


async def test_not_root_serves_one_tenant_and_refuses_a_second(world: World) -> None:
    async with open_plane(world.home, world.url, code_roots=[world.workspace]) as harness:
        users = harness.plane.subprocess_executor.task_users
        assert users is not None
        users.is_root = False  # what a control plane started by a plain user decides
        a = await _run(harness, world.a, "tenant-a")
        b = await _run(harness, world.b, "tenant-b", {"targets": _targets(world)})

        assert a.state == "success" and a.xcom["own_files"]["uid"] == os.getuid()
        assert b.state == "failed"
        for task_id in ("attack", "template_attack", "bash_attack"):
            outcome = b.tasks[task_id]
            assert outcome.state == "failed" and len(outcome.tries) == 1, outcome
            error = outcome.error or ""
            assert "refused to run iso_tenant_b." in error and "not root" in error, error
            assert "tenant 'tenant-a'" in error and "LEOFLOW_ALLOW_SHARED_UID=1" in error
        assert "attack" not in b.logs  # its code never ran

        users.allow_shared = True  # the documented, unsafe way out
        shared = await _run(harness, world.b, "tenant-b", {"targets": _targets(world)})
    assert shared.state == "success"
    # and why it is unsafe: the same uid reads the control plane's secrets
    assert shared.xcom["attack"]["results"]["jwt_secret"] == "READ"


@needs_root
@pytest.mark.skipif(not ROOT or not _closed_folders_above_python(),
                    reason="needs a Python installed under a folder closed to other users")
async def test_a_python_the_task_user_cannot_reach_is_one_clear_error(world: World) -> None:
    closed = _closed_folders_above_python()[0]  # /root here: Python is under /root/.pyenv
    async with open_plane(world.home, world.url, code_roots=[world.workspace]) as harness:
        a = await _run(harness, world.a, "tenant-a")
    assert a.state == "failed"
    error = a.tasks["own_files"].error or ""
    assert f"cannot pass through {closed} (mode 700" in error, error
    assert account_name("tenant-a") in error and "chmod o+x" in error
    assert len(a.tasks["own_files"].tries) == 1  # not retried: it would fail the same way
