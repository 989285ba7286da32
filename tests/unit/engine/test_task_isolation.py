"""Tenant isolation's parts (leoflow/engine/executors/isolation.py, posix_acl.py,
leoflow/agent/privileges.py): the policy by tenant and euid, account names, the ACL
encoding against the kernel, and a real privilege drop (root only). The attack itself is in
tests/e2e/test_tenant_isolation.py."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from leoflow.agent.privileges import drop
from leoflow.engine.executors import posix_acl as acl
from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.executors.isolation import (
    IsolationRefused,
    TaskUsers,
    TryPaths,
    account_name,
)


def _launch(dag_id: str) -> TaskLaunch:
    return TaskLaunch(ti_id=f"ti-{dag_id}", dag_id=dag_id, run_id="r", dag_run_id=1,
                      task_id="t", map_index=-1, try_number=1, dag_version_id="v",
                      operator="python")


def _users(tmp_path: Path, **options: bool) -> TaskUsers:
    tenants = {"a_dag": "tenant-a", "b_dag": "tenant-b", "d_dag": "default"}

    async def paths_of(launch: TaskLaunch) -> TryPaths:
        return TryPaths(tenant=tenants[launch.dag_id], dag_id=launch.dag_id)

    return TaskUsers(home=tmp_path, code_dir=tmp_path / "code", paths_of=paths_of,
                     **options)


async def test_not_root_serves_the_first_tenant_only(tmp_path: Path) -> None:
    users = _users(tmp_path, is_root=False, allow_shared=False)
    assert users.mode == "one-tenant"
    assert await users.for_try(_launch("a_dag")) is None  # the control plane's user
    assert await users.for_try(_launch("a_dag")) is None
    with pytest.raises(IsolationRefused) as refused:
        await users.for_try(_launch("b_dag"))
    message = str(refused.value)
    assert "refused to run b_dag.t of tenant 'tenant-b'" in message
    assert "not root" in message and "tenant 'tenant-a'" in message
    assert "LEOFLOW_ALLOW_SHARED_UID=1" in message and "Kubernetes" in message
    with pytest.raises(IsolationRefused):  # the default tenant is a tenant too
        await users.for_try(_launch("d_dag"))


async def test_shared_uid_when_allowed_and_default_tenant_as_root(tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setenv("LEOFLOW_ALLOW_SHARED_UID", "1")
    shared = _users(tmp_path, is_root=False)
    assert shared.mode == "shared-uid"
    for dag in ("a_dag", "b_dag", "d_dag"):
        assert await shared.for_try(_launch(dag)) is None
    root = _users(tmp_path, is_root=True, allow_shared=False)
    assert root.mode == "per-tenant-uid"
    assert await root.for_try(_launch("d_dag")) is None  # the operator's own tenant


def test_account_names_are_valid_and_distinct() -> None:
    names = {tenant: account_name(tenant) for tenant in
             ("tenant-b", "A", "a", "x" * 100, "Team.Data_1", "..", "-lead")}
    assert len(set(names.values())) == len(names)
    for name in names.values():
        assert len(name) <= 32 and re.fullmatch(r"[a-z_][a-z0-9_-]*", name), name
    assert names["tenant-b"].startswith("leoflow-t-tenant-b-")


def test_acl_entries_round_trip_and_match_the_kernel(tmp_path: Path) -> None:
    entries = {(acl.USER_OBJ, acl.UNDEFINED): 7, (acl.USER, 1234): 5,
               (acl.GROUP_OBJ, acl.UNDEFINED): 0, (acl.MASK, acl.UNDEFINED): 5,
               (acl.OTHER, acl.UNDEFINED): 0}
    assert acl.parse(acl.encode(entries)) == entries
    assert acl.from_mode(0o750) == {(acl.USER_OBJ, acl.UNDEFINED): 7,
                                    (acl.GROUP_OBJ, acl.UNDEFINED): 5,
                                    (acl.OTHER, acl.UNDEFINED): 0}
    folder = tmp_path / "gate"
    folder.mkdir(mode=0o700)
    try:
        assert acl.grant(folder, perms=acl.READ | acl.EXECUTE, uid=1234)
    except acl.AclUnsupported:
        pytest.skip("this file system keeps no POSIX ACLs")
    assert not acl.grant(folder, perms=acl.READ, uid=1234)  # already there
    assert acl.named_perms(folder, uid=1234) == 5
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750  # the mask shows as group bits
    acl.revoke(folder, uid=1234)
    assert acl.named_perms(folder, uid=1234) == 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    link = tmp_path / "link"
    link.symlink_to(folder)
    with pytest.raises(OSError):  # a link is refused, never followed
        acl.grant(link, perms=acl.READ, uid=1234)


def test_drop_without_a_user_changes_nothing() -> None:
    before = (os.getuid(), os.getgid(), os.getcwd())
    drop(None)
    assert (os.getuid(), os.getgid(), os.getcwd()) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_drop_is_for_good() -> None:
    tmp_path = Path(tempfile.mkdtemp())  # pytest's own folder is closed to other users
    secret = tmp_path / "secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, 65534, 65534)
    tmp_path.chmod(0o711)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports what it could do, then exits
        os.close(read)
        try:
            drop({"uid": 65534, "gid": 65534, "groups": [65534], "cwd": str(work)})
            report = [str(os.getresuid()), os.getcwd(), oct(os.umask(0))]
            try:
                secret.read_text()
                report.append("read")
            except PermissionError:
                report.append("denied")
            try:
                os.setuid(0)
                report.append("root again")
            except PermissionError:
                report.append("stays")
        except BaseException as exc:  # reported to the parent
            report = [repr(exc)]
        os.write(write, "|".join(report).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        report = answer.read().split("|")
    os.waitpid(pid, 0)
    shutil.rmtree(tmp_path)
    assert report == ["(65534, 65534, 65534)", str(work), "0o77", "denied", "stays"]
