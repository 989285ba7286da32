"""The editor: open a file, edit (unsaved marker), save with Ctrl+S, the project recompiles
and the graph beside it changes; a broken file shows its error at its line and keeps the
last good graph; files are created, renamed and deleted from the tree."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from tests.integration.ide.conftest import Ide, wait_for

DAG_FILE = "examples/hello/dag.py"
NEW_TASK = '''
    @task
    def whisper(greeting: str) -> str:
        return greeting.lower()

    whisper(make_greeting("Leoflow"))
'''


async def open_editor(ide: Ide, file: str = DAG_FILE) -> tuple[Any, Any]:
    await ide.user.open(f"/editor?file={file}")
    editor = await ide.element("code-editor")
    await wait_for(lambda: editor.value, what="the file's text in the editor")
    return editor, await ide.element("unsaved-marker", visible=False)


def graph_text(ide: Ide) -> str:
    found = ide.elements("dag-graph")
    return found[0].content if found else ""


async def test_edit_save_recompiles_and_the_graph_changes(ide: Ide) -> None:
    await ide.register("examples/hello")
    await ide.login()
    editor, marker = await open_editor(ide)
    assert editor.props["language"] == "Python"
    assert 'def make_greeting' in editor.value
    await wait_for(lambda: '"shout"' in graph_text(ide), what="the graph of hello")
    assert "whisper" not in graph_text(ide)
    assert not marker.visible

    editor.value = editor.value + NEW_TASK
    assert marker.visible  # unsaved changes
    (await ide.find("code-editor")).trigger("keybinding", {"key": "Mod-s"})  # Ctrl+S

    await wait_for(lambda: '"whisper"' in graph_text(ide), what="the new task in the graph")
    assert "whisper" in (ide.workspace / DAG_FILE).read_text()
    assert not marker.visible
    await ide.see("compiled: hello v1")  # still v1: a save replaces a version no run pinned


async def test_a_syntax_error_shows_at_its_line_and_keeps_the_last_good_graph(ide: Ide) -> None:
    await ide.register("examples/hello")
    await ide.login()
    editor, _marker = await open_editor(ide)
    await wait_for(lambda: '"shout"' in graph_text(ide), what="the graph of hello")
    original = editor.value
    lines = original.splitlines()
    broken_line = 14
    lines[broken_line - 1] = "    def broken(:"
    editor.value = "\n".join(lines) + "\n"
    (await ide.find("save")).click()

    badge = await ide.element("diagnostic-line", timeout=30)
    assert badge.props["data-line"] == str(broken_line)
    text = (await ide.element("diagnostic-text")).text
    assert f"dag.py:{broken_line}" in text
    assert editor.decorations == [{"kind": "line", "line": broken_line,
                                   "class": "leoflow-error-line"}]
    assert broken_line in editor.line_tooltips or str(broken_line) in editor.line_tooltips
    assert '"shout"' in graph_text(ide)  # the last good version stays
    await ide.see("does not compile")

    # fixing it clears the error
    editor.value = original
    (await ide.find("save")).click()
    await wait_for(lambda: not ide.elements("diagnostics"), what="the error to go")
    assert editor.decorations == []


async def test_create_rename_delete_from_the_tree(ide: Ide) -> None:
    await ide.login()
    await ide.user.open("/editor")
    await ide.element("file-tree")

    (await ide.find("new-folder")).click()
    (await ide.find("name-input")).type("etl")
    (await ide.find("name-ok")).click()
    await wait_for(lambda: (ide.workspace / "etl").is_dir(), what="the folder")
    # a closed dialog lingers a moment (layout.transient_dialog): type into the next one
    await wait_for(lambda: not ide.elements("name-input"), what="the dialog to go")

    (await ide.find("new-file")).click()  # inside the selected folder
    (await ide.find("name-input")).type("notes.md")
    (await ide.find("name-ok")).click()
    await wait_for(lambda: (ide.workspace / "etl" / "notes.md").is_file(), what="the file")
    await wait_for(lambda: (ide.elements("editor-path") or [None])[0] is not None
                   and ide.elements("editor-path")[0].text == "etl/notes.md",
                   what="the new file open")
    await wait_for(lambda: not ide.elements("name-input"), what="the dialog to go")

    (await ide.find("rename")).click()
    name = await ide.find("name-input")
    name.clear().type("README.md")
    (await ide.find("name-ok")).click()
    await wait_for(lambda: (ide.workspace / "etl" / "README.md").is_file(), what="rename")
    assert not (ide.workspace / "etl" / "notes.md").exists()
    assert ide.elements("editor-path")[0].text == "etl/README.md"

    (await ide.find("delete")).click()
    (await ide.find("delete-confirm")).click()
    await wait_for(lambda: not (ide.workspace / "etl" / "README.md").exists(), what="delete")
    assert ide.elements("editor-path")[0].text == "No file open"


async def test_the_tree_refuses_a_name_that_leaves_the_workspace(ide: Ide) -> None:
    await ide.login()
    await ide.user.open("/editor")
    await ide.element("file-tree")
    (await ide.find("new-file")).click()
    (await ide.find("name-input")).type("../escape.py")
    (await ide.find("name-ok")).click()
    await ide.see("'..' are not allowed")
    assert not (ide.workspace.parent / "escape.py").exists()


async def test_opening_a_path_outside_the_workspace_is_refused(ide: Ide) -> None:
    await ide.login()
    await ide.user.open("/editor?file=../outside.txt")
    await ide.element("file-tree")
    await ide.see("'..' are not allowed")
    assert ide.elements("editor-path")[0].text == "No file open"


async def test_yaml_files_get_yaml_highlighting(ide: Ide) -> None:
    await ide.login()
    editor, _ = await open_editor(ide, "examples/hello/leoflow.yaml")
    assert editor.props["language"] == "YAML"
    assert isinstance(editor, ui.codemirror)


async def test_compiles_reported_by_the_hot_reloader_update_the_open_file(ide: Ide) -> None:
    """A save from another editor: the file changes on disk only, the reloader's watcher
    compiles it, and its events reach the open page by push."""
    await ide.register("examples/hello")
    await ide.login()
    editor, _ = await open_editor(ide)
    await wait_for(lambda: '"shout"' in graph_text(ide), what="the graph of hello")
    dag_file = ide.workspace / DAG_FILE
    original = dag_file.read_text()
    lines = original.splitlines()
    lines.insert(2, "import a_module_that_does_not_exist")  # line 3
    dag_file.write_text("\n".join(lines) + "\n")  # not through the IDE

    badge = await ide.element("diagnostic-line", timeout=60)
    assert badge.props["data-line"] == "3"
    assert editor.decorations[0]["line"] == 3
    assert "a_module_that_does_not_exist" in (await ide.element("diagnostic-text")).text
    assert ide.reloader.status("examples/hello").state == "failed"

    dag_file.write_text(original + NEW_TASK)  # fixed, with one more task
    await wait_for(lambda: not ide.elements("diagnostics"), timeout=60,
                   what="the error to go")
    await wait_for(lambda: '"whisper"' in graph_text(ide), timeout=60,
                   what="the recompiled graph")
    assert ide.reloader.status("examples/hello").versions == {"hello": 1}
    assert ide.hub.listener_count >= 1
    # the buffer had no unsaved edits: it follows the disk
    await wait_for(lambda: editor.value == original + NEW_TASK, what="the reloaded text")
