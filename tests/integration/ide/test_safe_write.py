"""Saving from the IDE never writes through a planted symbolic link (issue 15, item 10).

The attack is performed for real: a link named like the old fixed temporary file
(``.dag.py.leoflow-tmp``) pointing at a file outside the workspace, a target that is itself
a link out, and a folder swapped for a link out. The outside file must keep its content.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leoflow.engine.safe_files import UnsafeWriteError, write_file
from leoflow.ide.files import Workspace, WorkspaceFileError, WorkspacePathError


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Workspace, Path]:
    root = tmp_path / "ws"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "dag.py").write_text("print('v1')\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    return Workspace(root), outside


def test_planted_temporary_link_is_not_followed(setup: tuple[Workspace, Path]) -> None:
    ws, outside = setup
    planted = ws.root / "proj" / ".dag.py.leoflow-tmp"
    planted.symlink_to(outside)
    ws.write_text("proj/dag.py", "print('v2')\n")
    assert outside.read_text() == "precious\n"
    assert (ws.root / "proj" / "dag.py").read_text() == "print('v2')\n"
    assert not (ws.root / "proj" / "dag.py").is_symlink()
    assert planted.is_symlink()  # left alone, not written through
    leftovers = [p.name for p in (ws.root / "proj").iterdir()
                 if p.name.endswith(".leoflow-tmp") and p != planted]
    assert leftovers == []


def test_target_linking_outside_is_refused(setup: tuple[Workspace, Path]) -> None:
    ws, outside = setup
    link = ws.root / "proj" / "evil.py"
    link.symlink_to(outside)
    # The path check refuses it; the helper refuses it as well when called directly.
    with pytest.raises(WorkspacePathError):
        ws.write_text("proj/evil.py", "x = 1\n")
    with pytest.raises(UnsafeWriteError, match="symbolic link"):
        write_file(link, "x = 1\n", root=ws.root)
    assert outside.read_text() == "precious\n"
    assert link.is_symlink()


def test_link_inside_the_workspace_is_written_through(setup: tuple[Workspace, Path]) -> None:
    ws, _ = setup
    (ws.root / "proj" / "alias.py").symlink_to("dag.py")
    write_file(ws.root / "proj" / "alias.py", "print('v3')\n", root=ws.root)
    assert (ws.root / "proj" / "alias.py").is_symlink()
    assert (ws.root / "proj" / "dag.py").read_text() == "print('v3')\n"


def test_folder_swapped_for_a_link_out_is_refused(setup: tuple[Workspace, Path],
                                                  tmp_path: Path) -> None:
    ws, _ = setup
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (ws.root / "sub").symlink_to(elsewhere)
    with pytest.raises(UnsafeWriteError, match="outside"):
        write_file(ws.root / "sub" / "x.py", "x = 1\n", root=ws.root)
    assert list(elsewhere.iterdir()) == []


def test_create_never_replaces_and_keeps_modes(setup: tuple[Workspace, Path]) -> None:
    ws, outside = setup
    ws.create_file("proj/new.py", "a = 1\n")
    with pytest.raises(WorkspaceFileError, match="exists"):
        ws.create_file("proj/new.py", "b = 2\n")
    script = ws.root / "proj" / "run.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o750)
    ws.write_text("proj/run.sh", "#!/bin/sh\necho hi\n")
    assert script.stat().st_mode & 0o777 == 0o750
    assert outside.read_text() == "precious\n"
