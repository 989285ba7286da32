"""The editor's file actions: new file, new folder, rename, delete, each behind a dialog.

Split from ``editor.py`` so the page keeps the editing and the graph: these act on the
tree's selection and, once done, refresh the tree and tell other pages (``files.changed``).
Every action asks the page's ``Access`` (MANAGE_DAGS) at the moment it writes.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from nicegui import run, ui

from leoflow.engine.auth.permissions import MANAGE_DAGS
from leoflow.errors import LeoflowError
from leoflow.ide.files import check_relative
from leoflow.ide.layout import transient_dialog

if TYPE_CHECKING:
    from leoflow.ide.pages.editor import EditorPage


class FileActions:
    """The tree's buttons: dialogs that create, rename and delete workspace files."""

    def __init__(self, page: EditorPage) -> None:
        self.page = page

    def _target_folder(self) -> str:
        if self.page.selected is None:
            return ""
        if self.page.kinds.get(self.page.selected):
            return self.page.selected
        parent = PurePosixPath(self.page.selected).parent.as_posix()
        return "" if parent == "." else parent

    def _ask_name(self, title: str, label: str, value: str, action: Any) -> None:
        with transient_dialog() as dialog, ui.card().classes("w-96"):
            ui.label(title).classes("text-h6")
            name = ui.input(label, value=value).classes("w-full").props(
                'autofocus data-testid="name-input"')
            error = ui.label().classes("text-negative")

            async def submit() -> None:
                try:
                    await action(name.value or "")
                except LeoflowError as exc:
                    error.text = str(exc)
                    return
                dialog.close()

            name.on("keydown.enter", submit)
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("OK", on_click=submit).props('color=primary data-testid="name-ok"')
        dialog.open()

    def ask_new_file(self) -> None:
        if not self.page._may_write():
            return
        folder = self._target_folder()

        async def create(name: str) -> None:
            rel = f"{folder}/{name}" if folder else name
            check_relative(rel)
            files = await self.page._files(MANAGE_DAGS)
            await run.io_bound(files.create_file, rel, "")
            self.page.hub.publish("files.changed", {"path": rel})
            await self.page.refresh_tree()
            await self.page.open(rel)

        where = f" in {folder}/" if folder else ""
        self._ask_name(f"New file{where}", "File name (e.g. dag.py)", "", create)

    def ask_new_folder(self) -> None:
        if not self.page._may_write():
            return
        folder = self._target_folder()

        async def create(name: str) -> None:
            rel = f"{folder}/{name}" if folder else name
            files = await self.page._files(MANAGE_DAGS)
            await run.io_bound(files.create_folder, rel)
            self.page.hub.publish("files.changed", {"path": rel})
            self.page.selected = rel
            await self.page.refresh_tree()
            self.page._expand_to(rel)

        where = f" in {folder}/" if folder else ""
        self._ask_name(f"New folder{where}", "Folder name", "", create)

    def ask_rename(self) -> None:
        if not self.page._may_write():
            return
        target = self.page.selected or self.page.path
        if not target:
            ui.notify("Select a file or folder first")
            return

        async def rename(name: str) -> None:
            files = await self.page._files(MANAGE_DAGS)
            new_rel = await run.io_bound(files.rename, target, name)
            if new_rel is None:  # the app is stopping
                return
            self.page.hub.publish("files.changed", {"path": new_rel})
            if self.page.path == target or (self.page.path or "").startswith(target + "/"):
                self.page.path = new_rel + (self.page.path or "")[len(target):]
                self.page.title.text = self.page.path
            self.page.selected = new_rel
            await self.page.refresh_tree()

        self._ask_name(f"Rename {target}", "New name", PurePosixPath(target).name, rename)

    def ask_delete(self) -> None:
        if not self.page._may_write():
            return
        target = self.page.selected or self.page.path
        if not target:
            ui.notify("Select a file or folder first")
            return
        is_dir = self.page.kinds.get(target, False)
        with transient_dialog() as dialog, ui.card():
            ui.label(f"Delete {target}{'/ and everything in it' if is_dir else ''}?").classes(
                "text-h6")

            async def confirm() -> None:
                try:
                    files = await self.page._files(MANAGE_DAGS)
                    await run.io_bound(files.delete, target)
                except LeoflowError as exc:
                    ui.notify(str(exc), type="negative")
                    return
                finally:
                    dialog.close()
                self.page.hub.publish("files.changed", {"path": target})
                if self.page.path == target or (self.page.path or "").startswith(target + "/"):
                    self.page.close_file()
                self.page.selected = None
                await self.page.refresh_tree()

            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Delete", on_click=confirm).props(
                    'color=negative data-testid="delete-confirm"')
        dialog.open()
