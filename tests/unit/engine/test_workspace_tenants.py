"""Which tenant owns which part of Lite's workspace, and the editor's files confined to it
(docs/security.md, "The IDE: tenants and permissions")."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from leoflow.engine.workspace_tenants import (
    NoWorkspaceFolder,
    excluded_from,
    tenant_folder,
    tenant_of_file,
    tenant_root,
)
from leoflow.ide.files import Workspace, WorkspacePathError


@pytest.mark.parametrize(("path", "tenant"), [
    ("examples/hello/dag.py", "default"),
    ("tenants/acme/etl/dag.py", "acme"),
    ("tenants/acme/dag.py", "acme"),
    ("tenants/dag.py", "default"),          # no tenant's folder
    ("tenants/../x/dag.py", "default"),
    ("tenants/.hidden/x/dag.py", "default"),
    ("tenants/default/x/dag.py", "default"),
    ("x/tenants/acme/dag.py", "default"),   # only the workspace's own tenants/ folder
])
def test_the_tenant_of_a_workspace_file(path: str, tenant: str) -> None:
    assert tenant_of_file(path) == tenant


def test_tenant_folders() -> None:
    assert tenant_folder("default") == PurePosixPath(".")
    assert tenant_folder("acme") == PurePosixPath("tenants/acme")
    assert tenant_root(Path("/w"), "acme") == Path("/w/tenants/acme")
    assert excluded_from("default") == (PurePosixPath("tenants"),)
    assert excluded_from("acme") == ()
    for bad in ("..", ".", ".x", "a/b", ""):
        with pytest.raises(NoWorkspaceFolder):
            tenant_folder(bad)


def test_the_default_tenants_files_never_reach_another_tenants_folder(tmp_path: Path) -> None:
    (tmp_path / "tenants/acme/p").mkdir(parents=True)
    (tmp_path / "tenants/acme/p/dag.py").write_text("secret = 1\n")
    (tmp_path / "mine").mkdir()
    os.symlink(tmp_path / "tenants/acme", tmp_path / "mine/peek")  # a link into acme's
    files = Workspace(tmp_path, excluded_from("default"))
    assert [n.id for n in files.tree()] == ["mine"]
    assert files.tree()[0].children == ()
    for path in ("tenants/acme/p/dag.py", "mine/peek/p/dag.py", "tenants/new.py"):
        with pytest.raises(WorkspacePathError, match="another tenant's folder"):
            files.resolve(path)
    with pytest.raises(WorkspacePathError):
        files.write_text("tenants/acme/p/dag.py", "taken = 1\n")
    assert (tmp_path / "tenants/acme/p/dag.py").read_text() == "secret = 1\n"


def test_a_tenants_files_are_its_folder_only(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples/dag.py").write_text("default's\n")
    root = tmp_path / "tenants/acme"
    root.mkdir(parents=True)
    os.symlink(tmp_path / "examples", root / "out")
    files = Workspace(root, excluded_from("acme"))
    assert files.tree() == []
    with pytest.raises(WorkspacePathError, match="outside the workspace"):
        files.read_text("out/dag.py")
    with pytest.raises(WorkspacePathError):
        files.read_text("../../examples/dag.py")
