"""The editor page's panels beside the code: the compile diagnostics under it (the error at
its line) and the graph of the DAG being edited, with its header (DAG link, compile status,
Trigger, Push). Split from ``editor.py``, which keeps the tree, the buffer and saving; this
mixin reads the page's state (``outcome``, ``dag_id``, ``status_text``...) and draws it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from nicegui import ui

from leoflow.engine.auth.permissions import READ
from leoflow.ide import queries
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.compile_events import CompileOutcome
from leoflow.ide.events import EventHub
from leoflow.ide.files import Workspace
from leoflow.ide.graph_view import GraphView
from leoflow.ide.services import IdeServices
from leoflow.ide.trigger import open_trigger_dialog
from leoflow.ide.unsaved_guard import UnsavedGuard

if TYPE_CHECKING:
    from leoflow.engine.services.container import Services


class EditorPanels:
    """Diagnostics and graph of ``EditorPage`` (which sets every attribute below)."""

    services: IdeServices
    plane: Services
    hub: EventHub
    access: Access
    workspace: Workspace
    editor: ui.codemirror
    graph: GraphView
    path: str | None
    dag_id: str | None
    outcome: CompileOutcome | None
    status_text: str
    can_edit: bool
    guard: UnsavedGuard
    _shown_header: tuple[str | None, bool, str] | None = None

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
                line = outcome.line
                ui.badge(f"line {line}", color="negative").classes("cursor-pointer").props(
                    f'data-testid="diagnostic-line" data-line="{line}"').on(
                    "click", lambda: self.guard.go_to_line(line)).tooltip(
                    "Put the cursor on this line")

    # -- graph -----------------------------------------------------------------------------
    def _header_status(self) -> str:
        status = self.status_text
        if not status and self.outcome is not None:
            if self.outcome.ok is False:
                status = "does not compile: the graph shows the last good version"
            elif self.outcome.versions:
                status = "compiled: " + ", ".join(
                    f"{d} v{n}" for d, n in self.outcome.versions.items())
        return status

    def _header_key(self) -> tuple[str | None, bool, str]:
        return (self.dag_id, self.can_edit, self._header_status())

    def refresh_header(self) -> None:
        """Redraw the header only when what it shows changed: a save's compile reports its
        outcome twice (the save's own and the reloader's event), and a redraw replaces the
        Trigger button, so a click landing in between would be lost."""
        if self._header_key() != self._shown_header:
            self.graph_header.refresh()

    @ui.refreshable_method
    def graph_header(self) -> None:
        self._shown_header = self._header_key()
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
        status = self._header_status()
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
