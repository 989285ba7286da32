"""The open file changed on disk (another editor, ``git pull``): never lose either side.

The editor records the stamp (``files.FileStamp``) of the content it loaded or saved. When
the hot reloader's watcher reports the file changed (``files.disk`` events), when a compile
of its project arrives, or when the browser tab regains focus, ``EditorConflicts.check``
compares the disk with that stamp:

- the buffer has no unsaved edits: it takes the disk's text (CodeMirror keeps the cursor
  where the text around it did not change) and says so;
- the buffer has unsaved edits: the conflict dialog shows both versions and their diff and
  lets the user choose: keep mine (overwrite the disk), take theirs (reload), or save mine
  as a copy beside the file (``dag.py.mine``: not a ``.py``, so nothing compiles it) and
  take theirs. "Decide later" keeps the buffer; the next save asks again.

A save sends the loaded stamp with the text (``Workspace.write_text(expected=...)``): the
check is in the file layer, not in the browser, so a save can never overwrite a change it
has not seen.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal

from nicegui import run, ui

from leoflow.engine.auth.permissions import MANAGE_DAGS, READ
from leoflow.errors import LeoflowError
from leoflow.ide.files import FileStamp
from leoflow.ide.layout import transient_dialog

if TYPE_CHECKING:
    from leoflow.ide.pages.editor import EditorPage

Choice = Literal["mine", "theirs", "copy"]
COPY_SUFFIX = ".mine"
MAX_DIFF_LINES = 400


@dataclass(frozen=True)
class Conflict:
    """The file ``path``: the user's unsaved text and what the disk holds (None: deleted)."""

    path: str
    mine: str
    theirs: str | None
    theirs_stamp: FileStamp | None


def diff_text(conflict: Conflict) -> str:
    """A unified diff from the disk's version to the user's (what "keep mine" would write)."""
    theirs = (conflict.theirs or "").splitlines(keepends=True)
    mine = conflict.mine.splitlines(keepends=True)
    name = PurePosixPath(conflict.path).name
    lines = list(difflib.unified_diff(theirs, mine, f"{name} (on disk)", f"{name} (yours)",
                                      n=2))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"… {len(lines) - MAX_DIFF_LINES} more lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines) \
        or "(no difference)\n"


def copy_name(path: str, exists: Callable[[str], bool]) -> str:
    """Where "save mine as a copy" writes: ``dag.py.mine``, then ``dag.py.mine-2``…"""
    candidate = path + COPY_SUFFIX
    number = 2
    while exists(candidate):
        candidate = f"{path}{COPY_SUFFIX}-{number}"
        number += 1
    return candidate


def base_name(path: str) -> str:
    """The file a copy was saved from (``dag.py.mine-2`` → ``dag.py``), for its language."""
    head, _, tail = path.rpartition(COPY_SUFFIX)
    if head and (tail == "" or (tail.startswith("-") and tail[1:].isdigit())):
        return head
    return path


async def ask(conflict: Conflict) -> Choice | None:
    """Show the conflict; the user's choice (None: decide later)."""
    deleted = conflict.theirs is None
    with transient_dialog().props('persistent data-testid="conflict-dialog"') as dialog, \
            ui.card().classes("w-full").style("max-width: 72rem; width: 72rem"):
        title = (f"{conflict.path} was deleted outside the editor" if deleted else
                 f"{conflict.path} changed on disk while you were editing it")
        ui.label(title).classes("text-h6").props('data-testid="conflict-title"')
        ui.label("Another program (an editor, a git pull) changed the file; your edits are "
                 "not saved. Choose which version to keep: nothing is written until you do."
                 ).classes("text-body2")
        with ui.row().classes("w-full no-wrap gap-3"):
            for label, text, testid in (("Yours (unsaved)", conflict.mine, "conflict-mine"),
                                        ("On disk now", conflict.theirs, "conflict-theirs")):
                with ui.column().classes("w-1/2 min-w-0 gap-1"):
                    ui.label(label).classes("text-subtitle2")
                    ui.code(text if text is not None else "(deleted)",
                            language="python" if conflict.path.endswith(".py") else None
                            ).classes("w-full").style(
                        "max-height: 14rem; overflow: auto").props(f'data-testid="{testid}"')
        ui.label("Changes (disk → yours)").classes("text-subtitle2")
        ui.code(diff_text(conflict), language="diff").classes("w-full").style(
            "max-height: 12rem; overflow: auto").props('data-testid="conflict-diff"')
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Decide later", on_click=lambda: dialog.submit(None)).props(
                'flat data-testid="conflict-later"')
            ui.button("Save mine as a copy", icon="file_copy",
                      on_click=lambda: dialog.submit("copy")).props(
                'outline data-testid="conflict-copy"').tooltip(
                f"Write your version to {conflict.path}{COPY_SUFFIX} and load the disk's")
            ui.button("Close the file" if deleted else "Take theirs", icon="download",
                      on_click=lambda: dialog.submit("theirs")).props(
                'outline data-testid="conflict-theirs-button"').tooltip(
                "Discard your edits" + ("" if deleted else "; load the file as it is on disk"))
            ui.button("Keep mine", icon="save", on_click=lambda: dialog.submit("mine")).props(
                'color=primary data-testid="conflict-keep-mine"').tooltip(
                "Write your version over the disk's")
    result = await dialog
    return result if result in ("mine", "theirs", "copy") else None


class EditorConflicts:
    """The editor page's side of it: check the disk, ask, apply the choice."""

    def __init__(self, page: EditorPage) -> None:
        self.page = page
        self.asking = False

    async def check(self) -> None:
        """Compare the open file with the disk; reload or ask (see the module's text)."""
        page = self.page
        rel, loaded = page.path, page.loaded
        if rel is None or loaded is None or self.asking:
            return
        try:
            files = await page._files(READ)
            now = await run.io_bound(files.on_disk, rel)
        except LeoflowError:
            return  # no longer readable: the next open says why
        if rel != page.path:
            return  # another file was opened meanwhile
        if now is not None and now[1].sha256 == loaded.sha256:
            return
        if not page.dirty:
            if now is None:
                ui.notify(f"{rel} was deleted outside the editor", type="warning")
                page.close_file()
                return
            await page.load_text(*now)
            ui.notify(f"{rel} changed on disk: reloaded", type="info", timeout=2500)
            return
        theirs, stamp = now if now is not None else (None, None)
        await self.resolve(Conflict(rel, page.editor.value or "", theirs, stamp))

    async def resolve(self, conflict: Conflict) -> None:
        """Ask about ``conflict`` and do what the user chose."""
        page = self.page
        self.asking = True
        try:
            choice = await ask(conflict)
        finally:
            self.asking = False
        if choice is None or conflict.path != page.path:
            return
        if choice == "mine":
            page.loaded = conflict.theirs_stamp  # overwrite exactly what the dialog showed
            await page.save()  # refused again (and asks) if the disk changed meanwhile
            return
        if choice == "copy" and not await self._save_copy(conflict):
            return
        if conflict.theirs is None:
            page.close_file()
            return
        await page.load_text(conflict.theirs, conflict.theirs_stamp)
        if choice == "theirs":
            ui.notify(f"Loaded {conflict.path} as it is on disk", type="info")
        await self.check()  # the disk may have changed again while the dialog was open

    async def _save_copy(self, conflict: Conflict) -> bool:
        try:
            files = await self.page._files(MANAGE_DAGS)
            target = copy_name(conflict.path, lambda p: files.resolve(p).exists()
                               or files.resolve(p).is_symlink())
            written = await run.io_bound(files.create_file, target, conflict.mine)
        except (LeoflowError, OSError) as exc:
            ui.notify(f"Your version was not copied: {exc}", type="negative")
            return False
        if written is None:  # the app is stopping
            return False
        ui.notify(f"Your version is saved as {target}", type="positive")
        self.page.hub.publish("files.changed", {})
        return True
