"""Never lose a user's work: a file changed by another program while it is open in the
editor. An unmodified buffer follows the disk; a modified one shows the conflict and each
choice does what it says; a save checks the disk holds what the buffer was loaded from.
The changes are written straight to disk (as another editor or ``git pull`` would) and reach
the page through Lite's hot reloader's watcher, as in ``leoflow lite``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leoflow.ide.editor_conflicts import Conflict, base_name, copy_name, diff_text
from leoflow.ide.files import FileChangedOnDisk, Workspace
from leoflow.ide.pages.editor import language_for
from tests.integration.ide.conftest import Ide, wait_for

DAG_FILE = "examples/hello/dag.py"
MINE = "\n# my unsaved note\n"
THEIRS = "\n# pulled from git\n"


async def open_editor(ide: Ide, file: str = DAG_FILE) -> Any:
    await ide.register("examples/hello")
    await ide.login()
    await ide.user.open(f"/editor?file={file}&line=3")
    editor = await ide.element("code-editor")
    await wait_for(lambda: editor.value, what="the file's text in the editor")
    return editor


async def conflict_after_outside_edit(ide: Ide) -> tuple[Any, str, str, Path]:
    """Open hello's dag.py, type, then change the file on disk: the conflict dialog."""
    editor = await open_editor(ide)
    original = editor.value
    editor.value = original + MINE  # typed, not saved
    dag_file = ide.workspace / DAG_FILE
    dag_file.write_text(original + THEIRS, "utf-8")  # another program
    await ide.element("conflict-dialog", timeout=30)
    mine = (await ide.element("conflict-mine")).content
    theirs = (await ide.element("conflict-theirs")).content
    assert "my unsaved note" in mine and "pulled from git" not in mine
    assert "pulled from git" in theirs and "my unsaved note" not in theirs
    diff = (await ide.element("conflict-diff")).content
    assert "+# my unsaved note" in diff and "-# pulled from git" in diff
    assert editor.value == original + MINE  # nothing changed under the user's hands
    assert dag_file.read_text("utf-8") == original + THEIRS  # nothing written yet
    return editor, original, original + THEIRS, dag_file


async def test_an_unmodified_buffer_follows_the_disk(ide: Ide) -> None:
    editor = await open_editor(ide)
    dag_file = ide.workspace / DAG_FILE
    changed = editor.value + THEIRS
    dag_file.write_text(changed, "utf-8")
    await wait_for(lambda: editor.value == changed, timeout=30, what="the reloaded buffer")
    await ide.see("changed on disk: reloaded")
    assert not (await ide.element("unsaved-marker", visible=False)).visible
    assert not ide.elements("conflict-dialog")
    # and a save from here writes over the reloaded version, without a conflict
    editor.value = changed + MINE
    (await ide.find("code-editor")).trigger("keybinding", {"key": "Mod-s"})
    await wait_for(lambda: dag_file.read_text("utf-8") == changed + MINE, what="the save")


async def test_keep_mine_writes_the_buffer_over_the_disk(ide: Ide) -> None:
    editor, original, _theirs, dag_file = await conflict_after_outside_edit(ide)
    (await ide.find("conflict-keep-mine")).click()
    await wait_for(lambda: dag_file.read_text("utf-8") == original + MINE, what="mine saved")
    await ide.see("Saved examples/hello/dag.py")
    assert editor.value == original + MINE
    assert not (await ide.element("unsaved-marker", visible=False)).visible


async def test_take_theirs_loads_the_disk_and_writes_nothing(ide: Ide) -> None:
    editor, _original, theirs, dag_file = await conflict_after_outside_edit(ide)
    (await ide.find("conflict-theirs-button")).click()
    await wait_for(lambda: editor.value == theirs, what="theirs loaded")
    assert dag_file.read_text("utf-8") == theirs
    assert not (await ide.element("unsaved-marker", visible=False)).visible


async def test_save_mine_as_a_copy_keeps_both(ide: Ide) -> None:
    editor, original, theirs, dag_file = await conflict_after_outside_edit(ide)
    (await ide.find("conflict-copy")).click()
    copy = dag_file.with_name("dag.py.mine")
    await wait_for(copy.exists, what="the copy")
    assert copy.read_text("utf-8") == original + MINE
    await wait_for(lambda: editor.value == theirs, what="theirs loaded")
    assert dag_file.read_text("utf-8") == theirs
    await ide.see("Your version is saved as examples/hello/dag.py.mine")


async def test_decide_later_keeps_the_buffer_and_the_next_save_asks_again(ide: Ide) -> None:
    editor, original, theirs, dag_file = await conflict_after_outside_edit(ide)
    (await ide.find("conflict-later")).click()
    await wait_for(lambda: not ide.elements("conflict-dialog"), what="the dialog to close")
    assert editor.value == original + MINE
    (await ide.find("code-editor")).trigger("keybinding", {"key": "Mod-s"})  # Ctrl+S
    await ide.element("conflict-dialog", timeout=10)  # refused by the file layer: asks
    assert dag_file.read_text("utf-8") == theirs


def test_a_save_checks_the_disk_holds_what_was_loaded(tmp_path: Path) -> None:
    """The check is in the file layer (every save of the IDE goes through it), not only in
    the browser: a stale stamp writes nothing."""
    ws = Workspace(tmp_path)
    (tmp_path / "a.py").write_text("one\n", "utf-8")
    _text, stamp = ws.read_versioned("a.py")
    (tmp_path / "a.py").write_text("two\n", "utf-8")  # another program
    with pytest.raises(FileChangedOnDisk) as refused:
        ws.write_text("a.py", "mine\n", expected=stamp)
    assert refused.value.disk_text == "two\n"
    assert "changed on disk" in str(refused.value)
    assert (tmp_path / "a.py").read_text("utf-8") == "two\n"
    ws.write_text("a.py", "mine\n", expected=refused.value.stamp)  # "keep mine"
    assert (tmp_path / "a.py").read_text("utf-8") == "mine\n"
    (tmp_path / "a.py").unlink()
    with pytest.raises(FileChangedOnDisk) as gone:
        ws.write_text("a.py", "x\n", expected=stamp)
    assert gone.value.disk_text is None and "deleted" in str(gone.value)


def test_copies_and_diffs() -> None:
    taken = {"a/dag.py.mine", "a/dag.py.mine-2"}
    assert copy_name("a/dag.py", taken.__contains__) == "a/dag.py.mine-3"
    assert base_name("a/dag.py.mine-3") == "a/dag.py" and base_name("x.mine") == "x"
    assert language_for("a/dag.py.mine-2") == "Python"
    diff = diff_text(Conflict("a/dag.py", "a\nb\n", "a\nc\n", None))
    assert "-c\n" in diff and "+b\n" in diff
    assert diff_text(Conflict("x", "same\n", "same\n", None)) == "(no difference)\n"
