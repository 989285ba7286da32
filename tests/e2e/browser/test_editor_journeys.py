"""Never lose a user's work, in Chromium against ``leoflow lite``: a file changed by another
program while it is open (an unmodified buffer follows the disk; a modified one shows the
conflict and each choice keeps what it says), a save after an outside change refuses, and
every way out of the editor with unsaved edits asks first; the address reopens the file
at its line.

The outside changes are written straight to the workspace, as another editor or
``git pull`` writes them; Lite's watcher tells the page. The journeys share one Lite and run
in file order; each leaves hello's dag.py as it found it, edits aside.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.browser.conftest import LiteServer, log_in, screenshot

pytestmark = pytest.mark.slow

DAG_FILE = "examples/hello/dag.py"
EDITOR = f"/editor?file={DAG_FILE}"


def open_editor(page: Page, lite: LiteServer, path: str = EDITOR) -> str:
    """Log in straight into the editor; the file's text as it is on disk."""
    page.set_default_navigation_timeout(60_000)  # a loaded CI machine, a Lite just started
    log_in(page, lite, path=path)
    # the first page of a Lite that has just compiled its workspace can take a while
    expect(page.locator("[data-testid=editor-path]")).to_have_text(DAG_FILE, timeout=45_000)
    text = (lite.workspace / DAG_FILE).read_text("utf-8")
    expect(page.locator("[data-testid=code-editor] .cm-content")).to_contain_text(
        "def make_greeting")
    return text


def type_at_end(page: Page, text: str) -> None:
    page.locator("[data-testid=code-editor] .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text(text)
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_visible()


def editor_text(page: Page) -> str:
    return page.locator("[data-testid=code-editor] .cm-content").inner_text()


def conflict(page: Page, lite: LiteServer, mine: str, theirs: str) -> Path:
    """Type ``mine``, then another program appends ``theirs``: the dialog shows both."""
    dag_file = lite.workspace / DAG_FILE
    type_at_end(page, mine)
    dag_file.write_text(dag_file.read_text("utf-8") + theirs, "utf-8")
    dialog = page.locator("[data-testid=conflict-dialog]")
    expect(page.locator("[data-testid=conflict-title]")).to_contain_text(
        "changed on disk while you were editing it")
    expect(dialog.locator("[data-testid=conflict-mine]")).to_contain_text(mine.strip())
    expect(dialog.locator("[data-testid=conflict-theirs]")).to_contain_text(theirs.strip())
    expect(dialog.locator("[data-testid=conflict-diff]")).to_contain_text(
        "+" + mine.strip())
    return dag_file


def test_an_unmodified_buffer_follows_an_outside_edit(page: Page, lite: LiteServer) -> None:
    original = open_editor(page, lite)
    dag_file = lite.workspace / DAG_FILE
    dag_file.write_text(original + "\n# pulled: a colleague's change\n", "utf-8")
    expect(page.locator("[data-testid=code-editor] .cm-content")).to_contain_text(
        "a colleague's change", timeout=20_000)
    expect(page.get_by_text("changed on disk: reloaded")).to_be_visible()
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_hidden()
    dag_file.write_text(original, "utf-8")  # and back: the buffer follows again
    expect(page.locator("[data-testid=code-editor] .cm-content")).not_to_contain_text(
        "a colleague's change", timeout=20_000)


def test_a_modified_buffer_asks_and_each_choice_keeps_what_it_says(
        page: Page, lite: LiteServer) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    original = open_editor(page, lite)

    # keep mine: the disk gets the buffer (the outside change was seen, and overwritten)
    dag_file = conflict(page, lite, "\n# mine: keep\n", "\n# theirs: overwritten\n")
    screenshot(page, lite, "editor-conflict")
    page.locator("[data-testid=conflict-keep-mine]").click()
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_hidden()
    expect(page.get_by_text(f"Saved {DAG_FILE}")).to_be_visible()
    on_disk = dag_file.read_text("utf-8")
    assert "# mine: keep" in on_disk and "# theirs: overwritten" not in on_disk

    # take theirs: the buffer gets the disk, nothing is written
    conflict(page, lite, "\n# mine: dropped\n", "\n# theirs: taken\n")
    before = dag_file.read_text("utf-8")
    page.locator("[data-testid=conflict-theirs-button]").click()
    expect(page.locator("[data-testid=code-editor] .cm-content")).to_contain_text(
        "# theirs: taken")
    assert "# mine: dropped" not in editor_text(page)
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_hidden()
    assert dag_file.read_text("utf-8") == before

    # save mine as a copy: both kept, the buffer shows the disk's
    conflict(page, lite, "\n# mine: copied\n", "\n# theirs: loaded\n")
    page.locator("[data-testid=conflict-copy]").click()
    copy = dag_file.with_name("dag.py.mine")
    expect(page.get_by_text(f"Your version is saved as {DAG_FILE}.mine")).to_be_visible()
    assert "# mine: copied" in copy.read_text("utf-8")
    expect(page.locator("[data-testid=code-editor] .cm-content")).to_contain_text(
        "# theirs: loaded")
    assert "# theirs: loaded" in dag_file.read_text("utf-8")
    copy.unlink()
    dag_file.write_text(original, "utf-8")
    expect(page.locator("[data-testid=code-editor] .cm-content")).not_to_contain_text(
        "# theirs: loaded", timeout=20_000)


def test_a_save_after_an_outside_change_refuses(page: Page, lite: LiteServer) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    original = open_editor(page, lite)
    page.get_by_role("switch", name="Dark").click()
    expect(page.locator("body.body--dark")).to_have_count(1)
    dag_file = conflict(page, lite, "\n# mine: not yet\n", "\n# theirs: on disk\n")
    screenshot(page, lite, "editor-conflict-dark")
    page.locator("[data-testid=conflict-later]").click()
    expect(page.locator("[data-testid=conflict-dialog]")).to_have_count(0)
    assert "# mine: not yet" in editor_text(page)  # decide later keeps the buffer
    page.locator("[data-testid=code-editor] .cm-content").click()
    page.keyboard.press("Control+s")
    expect(page.get_by_text("Not saved").first).to_be_visible()
    expect(page.locator("[data-testid=conflict-dialog]")).to_be_visible()
    on_disk = dag_file.read_text("utf-8")
    assert "# theirs: on disk" in on_disk and "# mine: not yet" not in on_disk
    page.locator("[data-testid=conflict-theirs-button]").click()
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_hidden()
    page.get_by_role("switch", name="Dark").click()  # the choice is remembered per user
    expect(page.locator("body.body--dark")).to_have_count(0)
    dag_file.write_text(original, "utf-8")


def test_leaving_with_unsaved_edits_asks_first(page: Page, lite: LiteServer) -> None:
    original = open_editor(page, lite)
    dag_file = lite.workspace / DAG_FILE

    type_at_end(page, "\n# unsaved thought\n")
    page.get_by_role("button", name="DAGs").click()  # a header button
    expect(page.locator("[data-testid=leave-dialog]")).to_be_visible()
    page.locator("[data-testid=leave-stay]").click()
    expect(page).to_have_url(re.compile(r"/editor\?file="))
    assert "# unsaved thought" in editor_text(page)

    # another file from the tree: asked too (the address and the buffer stay)
    page.locator("[data-testid=file-tree]").get_by_text("leoflow.yaml", exact=True).filter(
        visible=True).click()
    page.locator("[data-testid=discard-keep]").click()
    expect(page.locator("[data-testid=editor-path]")).to_have_text(DAG_FILE)
    expect(page).to_have_url(re.compile(r"/editor\?file=examples/hello/dag\.py"))
    assert "# unsaved thought" in editor_text(page)

    page.locator("[data-testid=editor-dag-link]").click()  # a link on the page
    expect(page.locator("[data-testid=leave-dialog]")).to_be_visible()
    page.locator("[data-testid=leave-discard]").click()
    expect(page).to_have_url(re.compile(r"/dags/hello"))
    assert dag_file.read_text("utf-8") == original  # left without saving, as asked

    page.goto(lite.url + EDITOR)
    expect(page.locator("[data-testid=code-editor] .cm-content")).to_contain_text(
        "def make_greeting")
    type_at_end(page, "\n# saved on the way out\n")
    page.get_by_role("button", name="DAGs").click()
    page.locator("[data-testid=leave-save]").click()
    expect(page).to_have_url(re.compile(r"/dags$"))
    assert "# saved on the way out" in dag_file.read_text("utf-8")
    dag_file.write_text(original, "utf-8")


def test_the_address_reopens_the_file_at_its_line_and_a_reload_asks(
        page: Page, lite: LiteServer) -> None:
    original = (lite.workspace / DAG_FILE).read_text("utf-8")
    log_in(page, lite, path="/editor?file=examples/hello/leoflow.yaml")
    expect(page.locator("[data-testid=editor-path]")).to_have_text(
        "examples/hello/leoflow.yaml")
    page.locator("[data-testid=file-tree]").get_by_text("dag.py", exact=True).filter(
        visible=True).click()  # hello's: the other folders are collapsed
    expect(page.locator("[data-testid=editor-path]")).to_have_text(DAG_FILE)
    expect(page).to_have_url(re.compile(r"/editor\?file=examples/hello/dag\.py$"))
    page.locator("[data-testid=code-editor] .cm-line").nth(4).click()  # line 5
    expect(page).to_have_url(re.compile(r"line=5"))
    page.reload()
    expect(page.locator("[data-testid=editor-path]")).to_have_text(DAG_FILE)
    fifth = original.splitlines()[4]
    expect(page.locator("[data-testid=code-editor] .cm-activeLine")).to_have_text(fifth)

    # reload or close with unsaved edits: the browser's own question (beforeunload)
    type_at_end(page, "\n# not saved\n")
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()  # stay

    page.on("dialog", answer)
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    assert not page.is_closed()  # stayed: the edits are still there
    assert "# not saved" in editor_text(page)



def save_task(page: Page, name: str) -> None:
    """Add a task ``name`` at the end of the DAG and save; return once it is in the graph
    (the compile the save asked for has finished)."""
    type_at_end(page, f"\n    @task\n    def {name}() -> None:\n        pass\n\n"
                      f"    {name}()\n")
    page.keyboard.press("Control+s")
    expect(page.locator("[data-testid=dag-graph] svg").get_by_text(name)).to_be_visible(
        timeout=30_000)
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_hidden()


def test_a_version_number_counts_the_versions_that_ran(page: Page, lite: LiteServer) -> None:
    original = open_editor(page, lite)
    status = page.locator("[data-testid=compile-status]")
    expect(status).to_have_text(re.compile(r"compiled: hello v\d+$"))
    first = int(status.inner_text().rsplit("v", 1)[1])

    # saves without a run are drafts: each replaces the last under the same number
    save_task(page, "draft_one")
    expect(status).to_have_text(f"compiled: hello v{first}")
    save_task(page, "draft_two")
    expect(status).to_have_text(f"compiled: hello v{first}")

    # a run pins the version it runs: the next save is a new number
    page.locator("[data-testid=editor-trigger]").click()
    page.locator("[data-testid=trigger-submit]").click()
    graph = page.locator("[data-testid=dag-graph] svg")
    expect(graph.locator(".st_success")).to_have_count(4, timeout=90_000)
    save_task(page, "after_the_run")
    expect(status).to_have_text(f"compiled: hello v{first + 1}")
    save_task(page, "and_another")
    expect(status).to_have_text(f"compiled: hello v{first + 1}")

    # the DAG page: the newest number, and the run says which version it ran
    page.locator("[data-testid=editor-dag-link]").click()
    expect(page.locator("[data-testid=dag-version]")).to_have_text(
        re.compile(rf"v{first + 1}$"))  # after the chip's icon
    page.get_by_role("tab", name="Runs").click()
    expect(page.locator("[data-testid=run-history] tbody tr")).to_have_count(1)
    expect(page.locator("[data-testid=run-history] tbody tr td").nth(3)).to_have_text(
        str(first))
    (lite.workspace / DAG_FILE).write_text(original, "utf-8")


def test_the_editor_is_usable_at_1024_px_and_its_panes_resize(
        page: Page, lite: LiteServer) -> None:
    page.set_viewport_size({"width": 1024, "height": 768})
    open_editor(page, lite)
    editor = page.locator("[data-testid=code-editor]")

    def width(locator_testid: str) -> float:
        box = page.locator(f"[data-testid={locator_testid}]").bounding_box()
        assert box is not None
        return box["width"]

    wide = width("code-editor")
    assert wide >= 480, f"the editor is {wide:.0f} px wide at 1024 px"  # it was 215
    assert width("graph-pane") >= 250 and width("file-tree") >= 150
    screenshot(page, lite, "editor-1024")

    # drag the separator between the editor and the graph 200 px to the right
    separator = page.locator("[data-testid=editor-graph-split] > .q-splitter__separator")
    handle = separator.bounding_box()
    assert handle is not None
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 100, y, steps=5)
    page.mouse.move(x + 200, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "([el, w]) => el.getBoundingClientRect().width > w + 150",
        arg=[editor.element_handle(), wide])
    dragged = width("code-editor")
    page.wait_for_timeout(500)  # the new share reaches the server (the user's storage)

    # the sizes are the user's: a reload keeps them
    page.reload()
    expect(page.locator("[data-testid=editor-path]")).to_have_text(DAG_FILE)
    assert abs(width("code-editor") - dragged) <= 8
