"""Whose user compiles a project (leoflow/engine/compiler/tenant_user.py) and how its report
is read (child.py): the policy, without switching users (tests/e2e/test_compile_isolation.py
performs the switch and the attack for real)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leoflow.engine.compiler.child import MAX_REPORT_BYTES, _read_report
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.compiler.tenant_user import CompileAs, compile_as
from leoflow.engine.executors.isolation import TaskUsers


async def _no_paths(_: object) -> object:
    raise AssertionError("a compile needs no try's paths")


def _users(tmp_path: Path, *, root: bool, shared: bool = False) -> TaskUsers:
    return TaskUsers(home=tmp_path / "home", code_dir=tmp_path / "home" / "code",
                     paths_of=_no_paths, is_root=root, allow_shared=shared)  # type: ignore[arg-type]


def test_the_default_tenants_project_compiles_as_the_control_plane(tmp_path: Path) -> None:
    users = _users(tmp_path, root=False)
    assert CompileAs("default", users).enter(tmp_path / "dag.py", "python") is None
    assert compile_as(object(), "default", None).users is None


def test_not_root_refuses_another_tenants_project_naming_the_file_and_the_way_out(
        tmp_path: Path) -> None:
    dag_file = tmp_path / "tenants" / "acme" / "etl" / "dag.py"
    with pytest.raises(CompileError) as caught:
        CompileAs("acme", _users(tmp_path, root=False)).enter(dag_file, "python")
    error = caught.value
    assert error.kind == "isolation" and error.file == str(dag_file)
    assert f"refused to compile {dag_file} of tenant 'acme'" in error.message
    assert "not root" in error.message and "LEOFLOW_ALLOW_SHARED_UID=1" in error.message
    shared = _users(tmp_path, root=False, shared=True)
    assert CompileAs("acme", shared).enter(dag_file, "python") is None  # consented: unsafe


def test_a_plane_without_task_users_fails_closed(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEOFLOW_ALLOW_SHARED_UID", raising=False)
    run_as = compile_as(object(), "acme", tmp_path)  # no subprocess executor, no TaskUsers
    assert run_as.users is None
    with pytest.raises(CompileError) as caught:
        run_as.enter(tmp_path / "dag.py", "python")
    assert caught.value.kind == "isolation" and "tenant 'acme'" in caught.value.message


def test_the_report_is_read_only_as_a_regular_file_never_through_a_link(
        tmp_path: Path) -> None:
    secret = tmp_path / "jwt_secret"
    secret.write_text("the control plane's secret")
    report = tmp_path / "report.json"
    report.symlink_to(secret)  # what a tenant's compile could leave in its own folder
    assert _read_report(report) is None
    report.unlink()
    os.mkfifo(report)  # would block a reader forever
    assert _read_report(report) is None
    report.unlink()
    report.write_text('{"ok": true}')
    assert _read_report(report) == b'{"ok": true}'
    with report.open("r+b") as handle:
        handle.truncate(MAX_REPORT_BYTES + 1)
    assert _read_report(report) == MAX_REPORT_BYTES + 1
    assert _read_report(tmp_path / "missing.json") is None


def test_a_planted_sdk_folder_is_not_used(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK folder's name in $TMPDIR is predictable: one whose link leads elsewhere (made
    by another user to have compiles import its code) is replaced by a private one."""
    import tempfile

    from leoflow.engine.compiler import child

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    honest = Path(child.sdk_pythonpath())
    assert (honest / "leoflow").resolve() == Path(child.__file__).resolve().parents[2]
    assert honest.parent == tmp_path
    (honest / "leoflow").unlink()
    evil = tmp_path / "evil" / "leoflow"
    evil.mkdir(parents=True)
    (honest / "leoflow").symlink_to(evil, target_is_directory=True)
    chosen = Path(child.sdk_pythonpath())
    assert chosen != honest
    assert (chosen / "leoflow").resolve() == Path(child.__file__).resolve().parents[2]
