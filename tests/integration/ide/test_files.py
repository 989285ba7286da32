"""The editor's files API stays inside the workspace: no absolute paths, no ``..``, no
symbolic links out, no reserved folder; and its operations do what they say."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leoflow.ide.files import (
    Workspace,
    WorkspaceFileError,
    WorkspacePathError,
    check_name,
    check_relative,
)

REFUSED = [
    "", "   ", "/etc/passwd", "//etc/passwd", "~/x", "~root/.ssh", "C:/windows", "c:x",
    "..", "../x", "a/../../x", "a/..", "a/./b", ".", "./a", "a//b", "a\\b", "..\\x",
    "a/\x00b", "a\nb", "a/\x7fb", ".leoflow/push.json", "x/.leoflow/y", ".leoflow",
]


@pytest.mark.parametrize("path", REFUSED)
def test_check_relative_refuses(path: str) -> None:
    with pytest.raises(WorkspacePathError):
        check_relative(path)


@pytest.mark.parametrize("path,parts", [
    ("a.py", ("a.py",)), ("a/b.py", ("a", "b.py")), ("a/b/", ("a", "b")),
    ("..a/b..", ("..a", "b..")), (".hidden/x", (".hidden", "x")), ("a b/c d.py", ("a b",
                                                                                "c d.py")),
])
def test_check_relative_accepts(path: str, parts: tuple[str, ...]) -> None:
    assert check_relative(path).parts == parts


def test_names_are_single_components() -> None:
    assert check_name("dag.py") == "dag.py"
    for bad in ("a/b", "..", "/x", ""):
        with pytest.raises(WorkspacePathError):
            check_name(bad)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "dag.py").write_text("print('hi')\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    return Workspace(root)


@pytest.mark.parametrize("path", REFUSED)
def test_every_operation_refuses_bad_paths(ws: Workspace, path: str) -> None:
    for operation in (ws.read_text, ws.delete, ws.create_folder,
                      lambda p: ws.write_text(p, "x"), lambda p: ws.create_file(p, "x"),
                      lambda p: ws.rename(p, "y")):
        with pytest.raises(WorkspacePathError):
            operation(path)


def test_a_symlink_out_is_refused_and_not_listed(ws: Workspace, tmp_path: Path) -> None:
    os.symlink(tmp_path / "outside", ws.root / "link")
    os.symlink(tmp_path / "outside" / "secret.txt", ws.root / "proj" / "file_link")
    for path in ("link", "link/secret.txt", "link/new.py", "proj/file_link"):
        with pytest.raises(WorkspacePathError, match="outside the workspace"):
            ws.resolve(path)
    with pytest.raises(WorkspacePathError):
        ws.read_text("link/secret.txt")
    with pytest.raises(WorkspacePathError):
        ws.write_text("proj/file_link", "overwritten")
    with pytest.raises(WorkspacePathError):
        ws.delete("link")
    assert (tmp_path / "outside" / "secret.txt").read_text() == "secret"
    ids = [n.id for n in ws.tree()] + [c.id for n in ws.tree() for c in n.children]
    assert "link" not in ids and "proj/file_link" not in ids


def test_a_symlink_inside_is_allowed(ws: Workspace) -> None:
    os.symlink(ws.root / "proj", ws.root / "alias")
    assert ws.read_text("alias/dag.py") == "print('hi')\n"


def test_the_workspace_itself_reached_through_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "p").mkdir(parents=True)
    os.symlink(real, tmp_path / "via")
    ws = Workspace(tmp_path / "via")
    ws.create_file("p/a.py", "x = 1\n")
    assert (real / "p" / "a.py").read_text() == "x = 1\n"


def test_create_read_write_rename_delete(ws: Workspace) -> None:
    ws.create_folder("new/sub")
    ws.create_file("new/sub/a.py", "a = 1\n")
    with pytest.raises(WorkspaceFileError, match="exists already"):
        ws.create_file("new/sub/a.py")
    with pytest.raises(WorkspaceFileError, match="exists already"):
        ws.create_folder("new")
    ws.write_text("new/sub/a.py", "a = 2\n")
    assert ws.read_text("new/sub/a.py") == "a = 2\n"
    assert not list((ws.root / "new" / "sub").glob(".*tmp"))  # the atomic write cleaned up
    assert ws.rename("new/sub/a.py", "b.py") == "new/sub/b.py"
    assert ws.read_text("new/sub/b.py") == "a = 2\n"
    with pytest.raises(WorkspacePathError):
        ws.rename("new/sub/b.py", "../../escape.py")
    ws.create_file("new/sub/c.py")
    with pytest.raises(WorkspaceFileError, match="exists already"):
        ws.rename("new/sub/b.py", "c.py")
    assert ws.rename("new", "renamed") == "renamed"
    ws.delete("renamed/sub/b.py")
    assert not (ws.root / "renamed" / "sub" / "b.py").exists()
    ws.delete("renamed")
    assert not (ws.root / "renamed").exists()
    with pytest.raises(WorkspaceFileError, match="no such"):
        ws.delete("renamed")


def test_write_needs_an_existing_folder_and_a_file(ws: Workspace) -> None:
    with pytest.raises(WorkspaceFileError, match="folder does not exist"):
        ws.write_text("missing/a.py", "x")
    with pytest.raises(WorkspaceFileError, match="is a folder"):
        ws.write_text("proj", "x")


def test_binary_and_huge_files_are_not_opened(ws: Workspace) -> None:
    (ws.root / "blob.bin").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(WorkspaceFileError, match="UTF-8"):
        ws.read_text("blob.bin")
    (ws.root / "big.txt").write_bytes(b"x" * (2 * 1024 * 1024 + 1))
    with pytest.raises(WorkspaceFileError, match="too large"):
        ws.read_text("big.txt")


def test_the_tree_lists_folders_first_and_hides_tool_folders(ws: Workspace) -> None:
    (ws.root / ".venv" / "lib").mkdir(parents=True)
    (ws.root / ".leoflow").mkdir()
    (ws.root / "proj" / "__pycache__").mkdir()
    (ws.root / "a.txt").write_text("")
    tree = ws.tree()
    assert [n.id for n in tree] == ["proj", "a.txt"]
    assert [c.id for c in tree[0].children] == ["proj/dag.py"]
    node = tree[0].as_dict()
    assert node["children"][0] == {"id": "proj/dag.py", "label": "dag.py", "icon": "code"}
