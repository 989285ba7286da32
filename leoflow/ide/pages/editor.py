"""The editor: the workspace's file tree, CodeMirror (Python and YAML), Ctrl+S to save
(the project then recompiles), an unsaved-changes marker, compile errors at their line,
and beside it the graph of the DAG being edited, coloured by its latest run.

Every path goes through ``files.Workspace`` (confined to the workspace, and there to the
part the user's tenant owns: ``leoflow.engine.workspace_tenants``). The tree, every open,
save, create, rename and delete, and the graph ask the page's ``Access`` at that moment
(reading needs READ, writing MANAGE_DAGS, of the user as the store holds it now), so an
editor left open by a user since demoted or deleted can no longer save. A save writes the
file atomically and asks for a compile: the hot reloader's ``reload_now`` under ``leoflow
lite``, the IDE's own compile otherwise; the outcome (and every later compile of the
project, whoever saved) arrives as a ``compile`` event and updates the diagnostics and the
graph in place.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import quote

from fastapi import Query, Request
from nicegui import app, run, ui

from leoflow.engine.auth.permissions import EDIT_RUNS, MANAGE_DAGS, READ, role_allows
from leoflow.errors import LeoflowError
from leoflow.ide import queries, session
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.compile_events import CompileOutcome, outcome_from
from leoflow.ide.compiling import recompile_for_file
from leoflow.ide.events import EventHub, LiveRegion
from leoflow.ide.files import Workspace
from leoflow.ide.graph_view import GraphView
from leoflow.ide.layout import DARK, frame, transient_dialog
from leoflow.ide.pages.file_actions import FileActions
from leoflow.ide.project import find_project, project_dag_id
from leoflow.ide.services import IdeServices
from leoflow.ide.trigger import open_trigger_dialog

log = logging.getLogger("leoflow.ide")

# the editor's (CodeMirror's) names of the languages a project file may be written in
Language = Literal["Python", "YAML", "JSON", "Markdown", "SQL", "TOML", "Shell"]
LANGUAGES: dict[str, Language] = {".py": "Python", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON",
             ".md": "Markdown", ".sql": "SQL", ".toml": "TOML", ".sh": "Shell"}


def language_for(path: str) -> Language | None:
    return LANGUAGES.get(PurePosixPath(path).suffix.lower())


class EditorPage:
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
    async def build(self, file: str | None) -> None:
        with ui.row().classes("w-full no-wrap items-stretch gap-3").style(
                "height: calc(100vh - 96px)"):
            with ui.column().classes("w-64 shrink-0 gap-1 overflow-auto"):
                with ui.row().classes("gap-0"):
                    for icon, tip, action, testid in (
                            ("note_add", "New file", self.file_actions.ask_new_file,
                             "new-file"),
                            ("create_new_folder", "New folder",
                             self.file_actions.ask_new_folder,
                             "new-folder"),
                            ("drive_file_rename_outline", "Rename",
                             self.file_actions.ask_rename, "rename"),
                            ("delete", "Delete", self.file_actions.ask_delete, "delete"),
                            ("refresh", "Refresh", self.refresh_tree, "refresh-tree")):
                        ui.button(icon=icon, on_click=action).props(
                            f'flat dense round data-testid="{testid}"').tooltip(tip)
                self.tree = ui.tree([], on_select=self.on_select).classes("w-full").props(
                    'dense selected-color=primary data-testid="file-tree"')
            with ui.column().classes("grow min-w-0 gap-1"):
                with ui.row().classes("w-full items-center gap-2"):
                    self.title = ui.label("No file open").classes("leoflow-mono text-body1"
                                                                  ).props(
                        'data-testid="editor-path"')
                    self.marker = ui.label("●").classes("text-amber-8 text-h6").props(
                        'data-testid="unsaved-marker"').tooltip("Unsaved changes (Ctrl+S)")
                    self.marker.set_visibility(False)
                    ui.space()
                    self.save_button = ui.button("Save", icon="save", on_click=self.save).props(
                        'dense outline data-testid="save"')
                dark = bool(app.storage.user.get(DARK, False))
                self.editor = ui.codemirror(
                    "", language=None, theme="basicDark" if dark else "basicLight",
                    on_change=self.on_change,
                    keymap={"Mod-s": self.save}).classes(
                    "w-full grow min-h-0").style("border: 1px solid #d0d0d0").props(
                    'data-testid="code-editor"')
                self.editor.set_enabled(False)
                self.diagnostics()
            with ui.column().classes("w-[30rem] shrink-0 gap-2 overflow-auto"):
                self.graph_header()
                self.graph = GraphView(on_task_click=self.open_task)
        await self.refresh_tree()
        LiveRegion(self.hub, self._matches, self.refresh)
        # Safety net: should a compile's final event be missed (the reloader skips a reload
        # whose files did not change), "compiling…" must not stay on screen.
        ui.timer(1.0, self._settle_status)
        if file:
            await self.open(self._as_relative(file))

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
        if node is None:
            return
        self.selected = node
        if not self.kinds.get(node, True):
            await self.open(node)

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
            text = await run.io_bound(files.read_text, rel)
        except LeoflowError as exc:
            ui.notify(str(exc), type="negative")
            return
        if text is None:  # the app is stopping
            return
        self.can_write = await self.access.allows(MANAGE_DAGS)
        self.path = rel
        self.selected = rel
        self.saved_text = text
        self.title.text = rel
        self.editor.set_language(language_for(rel))
        self.editor.value = text
        self.editor.set_enabled(self.can_write)
        self.marker.set_visibility(False)
        self._expand_to(rel)
        absolute = files.resolve(rel)
        self.project_dir = find_project(absolute, self.workspace.root)
        self.dag_id = project_dag_id(self.project_dir) if self.project_dir else None
        self.outcome = self._known_outcome()
        self._apply_diagnostics()
        await self.update_graph()
        self.graph_header.refresh()

    async def _confirm_discard(self) -> bool:
        with transient_dialog() as dialog, ui.card():
            ui.label(f"{self.path} has unsaved changes.").classes("text-body1")
            with ui.row().classes("w-full justify-end"):
                ui.button("Keep editing", on_click=lambda: dialog.submit(False)).props("flat")
                ui.button("Discard them", on_click=lambda: dialog.submit(True)).props(
                    'color=negative data-testid="discard-changes"')
        result = await dialog
        return bool(result)

    def close_file(self) -> None:
        self.path = None
        self.saved_text = ""
        self.editor.value = ""
        self.editor.set_enabled(False)
        self.title.text = "No file open"
        self.marker.set_visibility(False)
        self.project_dir = self.dag_id = None
        self.outcome = None
        self._apply_diagnostics()
        self.graph.show(None)
        self.graph_header.refresh()

    async def save(self) -> None:
        if self.path is None or not self._may_write():
            return
        text = self.editor.value or ""
        rel = self.path
        try:
            files = await self._files(MANAGE_DAGS)  # the user's role now, not at opening
            target = await run.io_bound(files.write_text, rel, text)
        except (LeoflowError, OSError) as exc:
            ui.notify(f"Not saved: {exc}", type="negative")
            return
        if target is None:  # the app is stopping
            return
        self.saved_text = text
        self.marker.set_visibility(self.dirty)
        ui.notify(f"Saved {rel}", type="positive", timeout=1000)
        if self.project_dir is None:
            return
        self.status_text = "compiling…"
        self.graph_header.refresh()
        try:
            outcome = await recompile_for_file(self.services, target,
                                               user=self.principal.username)
        except Exception as exc:  # never leave the editor saying "compiling…"
            log.exception("compiling after a save failed")
            outcome = CompileOutcome(self.project_dir, False, message=str(exc))
        if outcome is not None and outcome.finished:
            await self.apply_outcome(outcome)
            if self.services.reloader is None:  # the reloader tells every page itself
                self.hub.publish("compile", {
                    "outcome": outcome, "project_dir": outcome.project_dir,
                    "dag_ids": outcome.dag_ids, "ok": outcome.ok, "source": id(self)})

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
            if data.get("source") == id(self):
                return False  # this page's own save applied it already
            if isinstance(outcome, CompileOutcome) and (
                    self._same_project(outcome.project_dir)
                    or (self.dag_id and self.dag_id in outcome.dag_ids)):
                self.pending = outcome
                return True
            return False
        if kind == "files.changed":
            self.tree_stale = True
            return True
        if self.dag_id and data.get("dag_id") == self.dag_id:
            self.graph_stale = True
            return True
        return False

    async def refresh(self) -> None:
        pending, self.pending = self.pending, None
        tree, self.tree_stale = self.tree_stale, False
        graph, self.graph_stale = self.graph_stale, False
        if pending is not None and pending.finished:
            await self.apply_outcome(pending)  # updates the graph too
            graph = False
        elif pending is not None:
            self.status_text = pending.progress or f"{pending.phase or 'compiling'}…"
            self.graph_header.refresh()
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
        self.graph_header.refresh()

    def _apply_diagnostics(self) -> None:
        outcome = self.outcome
        line = None
        if outcome is not None and outcome.ok is False and self.path is not None:
            absolute = self.workspace.root / self.path
            if outcome.is_about(absolute, Path(self.services.workspace)) and outcome.line:
                line = outcome.line
        if line is not None and outcome is not None:
            self.editor.decorations = [{"kind": "line", "line": line,
                                        "class": "leoflow-error-line"}]
            self.editor.line_tooltips = {line: outcome.message or "error"}
            self.editor.update()
            self.editor.reveal_line(line)
        else:
            if self.editor.decorations:
                self.editor.decorations = []
            self.editor.line_tooltips = {}
            self.editor.update()
        self.diagnostics.refresh()

    @ui.refreshable_method
    def diagnostics(self) -> None:
        outcome = self.outcome
        if outcome is None or outcome.ok is not False:
            return
        card = ui.card().classes("w-full bg-red-1").props(
            'flat bordered data-testid="diagnostics"')
        with card, ui.row().classes("items-center gap-2 text-negative no-wrap"):
            ui.icon("error")
            ui.label(outcome.error_text()).classes("leoflow-mono").props(
                'data-testid="diagnostic-text"')
            if outcome.line:
                ui.badge(f"line {outcome.line}", color="negative").props(
                    f'data-testid="diagnostic-line" data-line="{outcome.line}"')

    # -- graph -----------------------------------------------------------------------------
    @ui.refreshable_method
    def graph_header(self) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            ui.icon("account_tree")
            if self.dag_id:
                ui.link(self.dag_id, f"/dags/{quote(self.dag_id)}").classes(
                    "leoflow-mono text-subtitle1").props('data-testid="editor-dag-link"')
            else:
                ui.label("Open a DAG project's file to see its graph").classes(
                    "text-caption text-grey-7")
            ui.space()
            if self.dag_id:
                ui.button("Trigger", icon="play_arrow", on_click=self.trigger).props(
                    'dense color=primary data-testid="editor-trigger"').set_enabled(
                    self.can_edit)
                ui.button(icon="cloud_upload", on_click=self.push).props(
                    'dense flat data-testid="editor-push"').tooltip("Push to cluster")
        status = self.status_text
        if not status and self.outcome is not None:
            if self.outcome.ok is False:
                status = "does not compile: the graph shows the last good version"
            elif self.outcome.versions:
                status = "compiled: " + ", ".join(
                    f"{d} v{n}" for d, n in self.outcome.versions.items())
        if status:
            ui.label(status).classes("text-caption").props('data-testid="compile-status"')

    async def update_graph(self) -> None:
        if not self.dag_id:
            self.graph.show(None)
            return
        try:  # a leoflow.yaml may name any dag_id: only the user's tenant's DAG is shown
            principal = await self.access.dag(self.dag_id, READ)
        except AccessDenied:
            self.graph.show(None)
            return
        spec = await queries.current_spec(self.plane, self.dag_id, tenant=principal.tenant)
        _, states = await queries.latest_states(self.plane, self.dag_id,
                                                tenant=principal.tenant)
        self.graph.show(spec, states)

    async def trigger(self) -> None:
        if self.dag_id:
            await open_trigger_dialog(self.services, self.hub, self.access, self.dag_id)

    async def push(self) -> None:
        from leoflow.ide.push import open_push_dialog

        if self.dag_id:
            await open_push_dialog(self.services, self.access, self.dag_id)

    def open_task(self, task_id: str) -> None:
        if self.dag_id:
            ui.navigate.to(f"/dags/{quote(self.dag_id)}?task_id={quote(task_id)}")


def register(services: IdeServices, hub: EventHub) -> None:
    @ui.page("/editor", title="Editor · Leoflow Lite")
    async def editor_page(request: Request, file: str | None = Query(None)) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="Editor"):
            try:
                files = await access.workspace(READ)
            except AccessDenied as exc:
                ui.label(exc.message).classes("text-h6").props('data-testid="no-files"')
                return None
            await EditorPage(services, hub, access, files).build(file)
        return None
