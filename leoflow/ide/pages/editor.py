"""The editor: the workspace's file tree, CodeMirror (Python and YAML), Ctrl+S to save
(the project then recompiles), an unsaved-changes marker, compile errors at their line,
and beside it the graph of the DAG being edited, coloured by its latest run.

Every path goes through ``files.Workspace`` (confined to the workspace, and there to the
part the user's tenant owns: ``leoflow.engine.workspace_tenants``). The tree, every open,
save, create, rename and delete, and the graph ask the page's ``Access`` at that moment
(reading needs READ, writing MANAGE_DAGS, of the user as the store holds it now), so an
editor left open by a user since demoted or deleted can no longer save. A save writes the
file atomically, only if the disk still holds what the buffer was loaded from (else the
conflict dialog: ``editor_conflicts``), and asks the hot reloader for a compile
(``reload_now``); the outcome (and every later compile of the project, whoever saved)
arrives as a ``compile`` event and updates the diagnostics and the graph in place. Files
changed by another program reach the page as ``files.disk`` events; leaving the page with
unsaved edits asks first (``unsaved_guard``), and the address names the open file and line.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from fastapi import Query, Request
from nicegui import app, run, ui

from leoflow.engine.auth.permissions import EDIT_RUNS, MANAGE_DAGS, READ, role_allows
from leoflow.errors import LeoflowError
from leoflow.ide import session
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.compile_events import CompileOutcome, outcome_from
from leoflow.ide.compiling import recompile_for_file
from leoflow.ide.editor_conflicts import Conflict, EditorConflicts, base_name
from leoflow.ide.events import EventHub, LiveRegion
from leoflow.ide.files import FileChangedOnDisk, FileStamp, Workspace, stamp_of
from leoflow.ide.graph_view import GraphView
from leoflow.ide.layout import DARK, frame, transient_dialog
from leoflow.ide.pages.editor_panels import EditorPanels
from leoflow.ide.pages.file_actions import FileActions
from leoflow.ide.project import find_project, project_dag_id
from leoflow.ide.services import IdeServices
from leoflow.ide.unsaved_guard import UnsavedGuard

log = logging.getLogger("leoflow.ide")

# the editor's (CodeMirror's) names of the languages a project file may be written in
Language = Literal["Python", "YAML", "JSON", "Markdown", "SQL", "TOML", "Shell"]
LANGUAGES: dict[str, Language] = {".py": "Python", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON",
             ".md": "Markdown", ".sql": "SQL", ".toml": "TOML", ".sh": "Shell"}

# the panes' shares of the page's width (percent): the tree's, then the graph's of the rest
PANE_SIZES = "editor_panes"
TREE_SHARE = 18.0
GRAPH_SHARE = 36.0


def _share(kept: Any, default: float) -> float:
    """A pane's share the user left it at, if it is a sane one."""
    return float(kept) if isinstance(kept, int | float) and 0 <= kept <= 100 else default


def language_for(path: str) -> Language | None:
    return LANGUAGES.get(PurePosixPath(base_name(path)).suffix.lower())


class EditorPage(EditorPanels):
    def __init__(self, services: IdeServices, hub: EventHub, access: Access,
                 workspace: Workspace) -> None:
        self.services = services
        self.plane = services.require_plane()
        self.hub = hub
        self.access = access
        self.principal = principal = access.principal
        self.workspace = workspace  # the user's files as of the last check (``_files``)
        self.path: str | None = None
        self.saved_text = ""
        self.loaded: FileStamp | None = None  # the disk's content the buffer started from
        self.conflicts = EditorConflicts(self)
        self.disk_stale = False
        self.project_dir: Path | None = None
        self.dag_id: str | None = None
        self.outcome: CompileOutcome | None = None
        self.pending: CompileOutcome | None = None
        self.tree_stale = False
        self.graph_stale = False
        self.status_text = ""
        self.selected: str | None = None  # the tree's selected node (file or folder)
        self.kinds: dict[str, bool] = {}  # tree node id → is a folder
        self.file_actions = FileActions(self)
        self.can_edit = role_allows(principal.role, EDIT_RUNS)
        # Writing a DAG's files registers new code: the permission of pushing a DAG.
        self.can_write = role_allows(principal.role, MANAGE_DAGS)

    # -- layout ----------------------------------------------------------------------------
    async def build(self, file: str | None, line: int | None = None) -> None:
        # Three panes (tree | editor | graph) with draggable separators; their sizes are
        # shares of the width (the editor gets ~half of 1024 px) and kept per user.
        sizes = app.storage.user.get(PANE_SIZES) or {}
        with ui.splitter(value=_share(sizes.get("tree"), TREE_SHARE), limits=(0, 50),
                         on_change=lambda e: self._keep_size("tree", e.value)).classes(
                "w-full").style("height: calc(100vh - 96px)").props(
                'data-testid="editor-panes"') as outer:
            with outer.before, ui.column().classes("w-full h-full gap-1 overflow-auto pr-1"):
                self._tree_pane()
            with outer.after, ui.splitter(
                    value=_share(sizes.get("graph"), GRAPH_SHARE), limits=(0, 80),
                    reverse=True, on_change=lambda e: self._keep_size("graph", e.value)
            ).classes("w-full h-full").props('data-testid="editor-graph-split"') as inner:
                with inner.before, ui.column().classes("w-full h-full min-w-0 gap-1 px-2"):
                    self._editor_pane()
                with inner.after, ui.column().classes("w-full h-full gap-2 overflow-auto pl-2"
                                                      ).props('data-testid="graph-pane"'):
                    self.graph_header()
                    self.graph = GraphView(on_task_click=self.open_task)
        await self.refresh_tree()
        LiveRegion(self.hub, self._matches, self.refresh)
        # Safety net: should a compile's final event be missed (the reloader skips a reload
        # whose files did not change), "compiling…" must not stay on screen.
        ui.timer(1.0, self._settle_status)
        if file:
            await self.open(self._as_relative(file))
            if line and self.path:
                self.guard.go_to_line(line)

    def _tree_pane(self) -> None:
        with ui.row().classes("gap-0"):
            for icon, tip, action, testid in (
                    ("note_add", "New file", self.file_actions.ask_new_file, "new-file"),
                    ("create_new_folder", "New folder", self.file_actions.ask_new_folder,
                     "new-folder"),
                    ("drive_file_rename_outline", "Rename", self.file_actions.ask_rename,
                     "rename"),
                    ("delete", "Delete", self.file_actions.ask_delete, "delete"),
                    ("refresh", "Refresh", self.refresh_tree, "refresh-tree")):
                ui.button(icon=icon, on_click=action).props(
                    f'flat dense round data-testid="{testid}"').tooltip(tip)
        self.tree = ui.tree([], on_select=self.on_select).classes("w-full").props(
            'dense selected-color=primary data-testid="file-tree"')

    def _editor_pane(self) -> None:
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            self.title = ui.label("No file open").classes(
                "leoflow-mono text-body1 ellipsis min-w-0").props('data-testid="editor-path"')
            self.marker = ui.label("●").classes("text-amber-8 text-h6").props(
                'data-testid="unsaved-marker"').tooltip("Unsaved changes (Ctrl+S)")
            self.marker.set_visibility(False)
            ui.space()
            self.save_button = ui.button("Save", icon="save", on_click=self.save).props(
                'dense outline data-testid="save"')
        dark = bool(app.storage.user.get(DARK, False))
        self.editor = ui.codemirror(
            "", language=None, theme="basicDark" if dark else "basicLight",
            on_change=self.on_change, keymap={"Mod-s": self.save}).classes(
            "w-full grow min-h-0").style("border: 1px solid #d0d0d0").props(
            'data-testid="code-editor"')
        self.editor.set_enabled(False)
        self.guard = UnsavedGuard(self.editor, save=self.save, path=lambda: self.path,
                                  on_focus=self.conflicts.check)
        self.diagnostics()

    @staticmethod
    def _keep_size(pane: str, value: Any) -> None:
        if isinstance(value, int | float):
            sizes = dict(app.storage.user.get(PANE_SIZES) or {})
            sizes[pane] = float(value)
            app.storage.user[PANE_SIZES] = sizes

    def _as_relative(self, file: str) -> str:
        path = Path(file)
        if path.is_absolute():
            try:
                return path.resolve().relative_to(self.workspace.root).as_posix()
            except ValueError:
                return file  # refused by open()
        return file

    async def _files(self, permission: str) -> Workspace:
        """The current user's files, if it may ``permission`` now (else ``AccessDenied``)."""
        self.workspace = await self.access.workspace(permission)
        return self.workspace

    # -- tree ------------------------------------------------------------------------------
    async def refresh_tree(self) -> None:
        try:
            files = await self._files(READ)
        except AccessDenied as exc:
            ui.notify(exc.message, type="warning")
            nodes: list[Any] = []
        else:
            nodes = await run.io_bound(files.tree) or []
        self.kinds = {}

        def walk(items: list[Any]) -> None:
            for node in items:
                self.kinds[node.id] = node.is_dir
                walk(list(node.children))

        walk(nodes)
        self.tree.props["nodes"] = [n.as_dict() for n in nodes]
        self.tree.update()
        if self.path:
            self._expand_to(self.path)

    def _expand_to(self, rel: str) -> None:
        parents = [p.as_posix() for p in reversed(PurePosixPath(rel).parents)
                   if p.as_posix() != "."]
        if parents:
            self.tree.expand(parents)
        self.tree.props["selected"] = rel
        self.tree.update()

    async def on_select(self, event: Any) -> None:
        node = event.value
        if node is None:  # a click on the selected node: the tree unselects it; keep it
            node = self.selected
            if node is None:
                return
            self.tree.props["selected"] = node
            self.tree.update()
            if self.kinds.get(node):
                self._toggle_folder(node)
            return
        self.selected = node
        if self.kinds.get(node):
            self._toggle_folder(node)  # a folder's name opens (or closes) it, like its arrow
        elif node in self.kinds:
            await self.open(node)

    def _toggle_folder(self, node: str) -> None:
        if node in (self.tree.props.get("expanded") or ()):
            self.tree.collapse([node])
        else:
            self.tree.expand([node])
        self.tree.update()

    def _may_write(self) -> bool:
        if not self.can_write:
            ui.notify(f"Role {self.principal.role} may read files here but not change them",
                      type="warning")
        return self.can_write

    # -- editing ---------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.path is not None and (self.editor.value or "") != self.saved_text

    def on_change(self, _event: Any) -> None:
        self.marker.set_visibility(self.dirty)

    async def open(self, rel: str) -> None:
        if rel == self.path:
            return
        if self.dirty and not await self._confirm_discard():
            self._expand_to(self.path or rel)
            return
        try:
            files = await self._files(READ)
            read = await run.io_bound(files.read_versioned, rel)
        except LeoflowError as exc:
            ui.notify(str(exc), type="negative")
            return
        if read is None:  # the app is stopping
            return
        self.can_write = await self.access.allows(MANAGE_DAGS)
        self.path = rel
        self.selected = rel
        self.title.text = rel
        self.editor.set_language(language_for(rel))
        await self.load_text(*read)
        self.editor.set_enabled(self.can_write)
        self.guard.show_file(rel)
        self._expand_to(rel)
        absolute = files.resolve(rel)
        self.project_dir = find_project(absolute, self.workspace.root)
        self.dag_id = project_dag_id(self.project_dir) if self.project_dir else None
        self.outcome = self._known_outcome()
        self._apply_diagnostics()
        await self.update_graph()
        self.refresh_header()

    async def load_text(self, text: str, stamp: FileStamp | None) -> None:
        """Show ``text`` (the disk's, as of ``stamp``) as the saved content of the open file;
        CodeMirror keeps the cursor where the text around it is unchanged."""
        self.saved_text = text
        self.loaded = stamp
        self.editor.value = text
        self.marker.set_visibility(False)
        self.guard.set_saved(text)

    async def _confirm_discard(self) -> bool:
        with transient_dialog() as dialog, ui.card():
            ui.label(f"{self.path} has unsaved changes.").classes("text-body1")
            with ui.row().classes("w-full justify-end"):
                ui.button("Keep editing", on_click=lambda: dialog.submit(False)).props(
                    'flat data-testid="discard-keep"')
                ui.button("Discard them", on_click=lambda: dialog.submit(True)).props(
                    'color=negative data-testid="discard-changes"')
        result = await dialog
        return bool(result)

    def close_file(self) -> None:
        self.path = None
        self.saved_text = ""
        self.loaded = None
        self.guard.set_saved(None)
        self.guard.show_file(None)
        self.editor.value = ""
        self.editor.set_enabled(False)
        self.title.text = "No file open"
        self.marker.set_visibility(False)
        self.project_dir = self.dag_id = None
        self.outcome = None
        self._apply_diagnostics()
        self.graph.show(None)
        self.refresh_header()

    async def save(self) -> bool:
        """Write the buffer if the file on disk is still what it was loaded from (else the
        conflict dialog); True once written."""
        if self.path is None or not self._may_write():
            return False
        text = self.editor.value or ""
        rel = self.path
        try:
            files = await self._files(MANAGE_DAGS)  # the user's role now, not at opening
            expected = self.loaded
            target = await run.io_bound(
                lambda: files.write_text(rel, text, expected=expected))
        except FileChangedOnDisk as exc:
            ui.notify(f"Not saved: {exc}", type="warning")
            await self.conflicts.resolve(Conflict(rel, text, exc.disk_text, exc.stamp))
            return False
        except (LeoflowError, OSError) as exc:
            ui.notify(f"Not saved: {exc}", type="negative")
            return False
        if target is None:  # the app is stopping
            return False
        self.saved_text = text
        self.loaded = stamp_of(text.encode("utf-8"))
        self.guard.set_saved(text)
        self.marker.set_visibility(self.dirty)
        ui.notify(f"Saved {rel}", type="positive", timeout=1000)
        await self._compile_saved(target)
        return True

    async def _compile_saved(self, target: Path) -> None:
        if self.project_dir is None:
            return
        self.status_text = "compiling…"
        self.refresh_header()
        try:
            outcome = await recompile_for_file(self.services, target,
                                               user=self.principal.username)
        except Exception as exc:  # never leave the editor saying "compiling…"
            log.exception("compiling after a save failed")
            outcome = CompileOutcome(self.project_dir, False, message=str(exc))
        if outcome is not None and outcome.finished:
            await self.apply_outcome(outcome)  # the reloader tells the other pages itself

    async def _settle_status(self) -> None:
        if not self.status_text.endswith("…"):
            return
        known = self._known_outcome()
        if known is not None and known.finished:
            await self.apply_outcome(known)

    # -- compile outcomes ------------------------------------------------------------------
    def _known_outcome(self) -> CompileOutcome | None:
        reloader = self.services.reloader
        if reloader is None or self.project_dir is None:
            return None
        try:
            status = reloader.status(self.project_dir)
        except Exception:
            return None
        return outcome_from(status) if status is not None else None

    def _same_project(self, project_dir: Any) -> bool:
        if self.project_dir is None or project_dir is None:
            return False
        try:
            return Path(project_dir).resolve() == self.project_dir.resolve()
        except OSError:
            return False

    def _matches(self, kind: str, data: dict[str, Any]) -> bool:
        """Note what an event changes (the refresh that follows does only that)."""
        if kind == "compile":
            outcome = data.get("outcome")
            if isinstance(outcome, CompileOutcome) and (
                    self._same_project(outcome.project_dir)
                    or (self.dag_id and self.dag_id in outcome.dag_ids)):
                self.pending = outcome
                return True
            return False
        if kind == "files.changed":
            self.tree_stale = True
            return True
        if kind == "files.disk":  # another program wrote files: is the open one of them?
            if self.path is not None and any(
                    self._is_open_file(p) for p in data.get("paths") or ()):
                self.disk_stale = True
                return True
            return False
        if self.dag_id and data.get("dag_id") == self.dag_id:
            self.graph_stale = True
            return True
        return False

    def _is_open_file(self, path: Any) -> bool:
        try:
            return self.path is not None and Path(path).resolve() == (
                self.workspace.root / self.path).resolve()
        except OSError:
            return False

    async def refresh(self) -> None:
        if self.disk_stale:
            self.disk_stale = False
            await self.conflicts.check()
        pending, self.pending = self.pending, None
        tree, self.tree_stale = self.tree_stale, False
        graph, self.graph_stale = self.graph_stale, False
        if pending is not None and pending.finished:
            await self.apply_outcome(pending)  # updates the graph too
            graph = False
        elif pending is not None:
            self.status_text = pending.progress or f"{pending.phase or 'compiling'}…"
            self.refresh_header()
        if tree:
            await self.refresh_tree()
        if graph:
            await self.update_graph()

    async def apply_outcome(self, outcome: CompileOutcome) -> None:
        self.outcome = outcome
        if outcome.dag_ids and not self.dag_id:
            self.dag_id = outcome.dag_ids[0]
        self._apply_diagnostics()
        self.status_text = ""
        await self.update_graph()
        self.refresh_header()


def register(services: IdeServices, hub: EventHub) -> None:
    @ui.page("/editor", title="Editor · Leoflow Lite")
    async def editor_page(request: Request, file: str | None = Query(None),
                          line: int | None = Query(None, ge=1)) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="Editor"):
            try:
                files = await access.workspace(READ)
            except AccessDenied as exc:
                ui.label(exc.message).classes("text-h6").props('data-testid="no-files"')
                return None
            await EditorPage(services, hub, access, files).build(file, line)
        return None
