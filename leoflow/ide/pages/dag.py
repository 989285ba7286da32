"""The DAG page: Airflow's grid (runs x tasks), the graph, the code of each version, the run
history; Trigger, pause/unpause, push; and the task instance panel beside them.

A DAG of another tenant does not exist here. Every load and action asks the page's
``Access`` first, so a user demoted, deleted or moved since the page opened is refused."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import Query, Request
from nicegui import ui

from leoflow.engine.auth.permissions import EDIT_RUNS, READ, role_allows
from leoflow.errors import LeoflowError
from leoflow.ide import queries, session
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.asset_widgets import DagAssetsSection
from leoflow.ide.events import EventHub, LiveRegion, for_dag
from leoflow.ide.grid_view import GridView
from leoflow.ide.layout import format_duration, format_time, frame
from leoflow.ide.project import dag_file
from leoflow.ide.run_graph import RunGraphView
from leoflow.ide.services import IdeServices
from leoflow.ide.task_panel import TaskPanel, open_panel
from leoflow.ide.theme import STATE_COLORS
from leoflow.ide.trigger import open_trigger_dialog
from leoflow.ide.urls import run_url


class DagPage:
    def __init__(self, services: IdeServices, hub: EventHub, access: Access, dag_id: str) -> None:
        self.services = services
        self.plane = services.require_plane()
        self.hub = hub
        self.access = access
        self.principal = principal = access.principal
        self.dag_id = dag_id
        self.detail: queries.DagDetail | None = None
        self.history: list[queries.RunBrief] = []
        self.selected_run: str | None = None
        self.panel: TaskPanel | None = None
        self.panel_box: ui.column | None = None
        self.graph: RunGraphView | None = None
        self.grid: GridView | None = None
        self.assets: DagAssetsSection | None = None
        self.can_edit = role_allows(principal.role, EDIT_RUNS)

    async def load(self) -> None:
        """Raises ``AccessDenied`` when the user may not read this DAG (any more)."""
        principal = await self.access.dag(self.dag_id, READ)
        self.detail = await queries.dag_detail(self.plane, self.dag_id, tenant=principal.tenant)
        self.history = await queries.run_history(self.plane, self.dag_id,
                                                 tenant=principal.tenant)

    async def build(self, run_id: str | None, task_id: str | None, map_index: int) -> None:
        await self.load()
        detail = self.detail
        if detail is None:  # deleted since the page's access check found it
            raise AccessDenied(f"there is no DAG {self.dag_id!r}")
        self.selected_run = run_id or (detail.grid.runs[-1].run_id if detail.grid.runs else None)
        with ui.row().classes("w-full items-center gap-3"):
            ui.label(self.dag_id).classes("text-h5 leoflow-mono").props('data-testid="dag-id"')
            self.header_controls()
            ui.space()
            ui.button("Trigger", icon="play_arrow", on_click=self.trigger).props(
                'color=primary data-testid="dag-trigger"').set_enabled(
                self.can_edit and not detail.dag.is_stale)
            ui.button("Push to cluster", icon="cloud_upload", on_click=self.push).props(
                'outline data-testid="dag-push"')
            ui.button("Edit", icon="code", on_click=self.edit).props(
                'outline data-testid="dag-edit"')
        if detail.spec is not None and detail.spec.description:
            ui.label(detail.spec.description).classes("text-body2 text-grey-8")
        # what it consumes (seen / waiting) and produces; the selected run's asset events
        self.assets = DagAssetsSection(self.plane, self.hub, self.access, self.dag_id)
        await self.assets.build(self.selected_run)
        with ui.row().classes("w-full no-wrap items-start gap-4"):
            with ui.column().classes("grow min-w-0"):
                with ui.tabs().classes("w-full").props("align=left dense") as tabs:
                    grid_tab = ui.tab("Grid", icon="grid_on")
                    graph_tab = ui.tab("Graph", icon="account_tree")
                    code_tab = ui.tab("Code", icon="code")
                    runs_tab = ui.tab("Runs", icon="history")
                with ui.tab_panels(tabs, value=grid_tab).classes("w-full"):
                    with ui.tab_panel(grid_tab):
                        self.grid = GridView(self.services, self.access, self.dag_id,
                                             on_cell=self.open_task, on_run=self.select_run)
                        await self.show_grid()
                    with ui.tab_panel(graph_tab):
                        self.graph = RunGraphView(on_task_click=self.open_task)
                        await self.update_graph()
                    with ui.tab_panel(code_tab):
                        await self.code_view()
                    with ui.tab_panel(runs_tab):
                        self.runs_view()
            self.panel_box = ui.column().classes("w-[36rem] max-w-[45%] shrink-0").props(
                'data-testid="panel-box"')
            self.panel_box.set_visibility(False)
        LiveRegion(self.hub, for_dag(self.dag_id), self.refresh)
        if task_id and self.selected_run:
            await self.open_task(task_id, run_id=self.selected_run, map_index=map_index)

    # -- header ----------------------------------------------------------------------------
    @ui.refreshable_method
    def header_controls(self) -> None:
        detail = self.detail
        if detail is None:
            return
        switch = ui.switch("Active" if not detail.dag.is_paused else "Paused",
                           value=not detail.dag.is_paused,
                           on_change=lambda e: self.set_paused(not e.value)).props(
            'data-testid="dag-paused-toggle"')
        switch.set_enabled(self.can_edit)
        if detail.dag.is_stale:
            from leoflow.ide.pages.dags import stale_chip

            stale_chip()
        schedule = queries.schedule_text(detail.spec)
        ui.chip(f"schedule: {schedule}", icon="schedule").props("outline dense")
        if detail.versions:
            ui.chip(f"v{detail.versions[-1].version_number}", icon="tag").props(
                'outline dense data-testid="dag-version"')

    async def set_paused(self, paused: bool) -> None:
        if self.detail is None or self.detail.dag.is_paused == paused:
            return
        try:
            principal = await self.access.dag(self.dag_id, EDIT_RUNS)
            await self.plane.operations.set_paused(self.dag_id, paused,
                                                   user=principal.username)
        except LeoflowError as exc:
            ui.notify(str(exc), type="negative")
        self.hub.publish("dag.changed", {"dag_id": self.dag_id})

    async def trigger(self) -> None:
        await open_trigger_dialog(self.services, self.hub, self.access, self.dag_id)

    async def push(self) -> None:
        from leoflow.ide.push import open_push_dialog

        await open_push_dialog(self.services, self.access, self.dag_id)

    async def edit(self) -> None:
        detail = self.detail
        target = "/editor"
        path = dag_file(self.services.workspace, detail.dag.fileloc if detail else None)
        try:
            files = await self.access.workspace(READ)
        except LeoflowError as exc:
            ui.notify(str(exc), type="negative")
            return
        if path is not None:
            try:  # the editor's paths are relative to the user's own folder
                rel = path.resolve().relative_to(files.root)
                target = f"/editor?file={quote(rel.as_posix())}"
            except ValueError:
                pass  # registered from outside the user's files: nothing to open here
        ui.navigate.to(target)

    # -- grid ------------------------------------------------------------------------------
    async def show_grid(self) -> None:
        """The grid (``grid_view.GridView``): run headers, groups, mapped instances."""
        if self.grid is not None:
            await self.grid.show(self.detail, self.selected_run)

    async def select_run(self, run_id: str) -> None:
        self.selected_run = run_id
        await self.show_grid()
        await self.update_graph()
        if self.assets is not None:
            await self.assets.show_run(run_id)

    async def update_graph(self) -> None:
        if self.graph is None or self.detail is None:
            return
        try:
            principal = await self.access.dag(self.dag_id, READ)
        except AccessDenied:
            self.graph.show(None)
            return
        _, states = await queries.latest_states(self.plane, self.dag_id, self.selected_run,
                                                tenant=principal.tenant)
        self.graph.show(self.detail.spec, states, self.selected_run)

    # -- code ------------------------------------------------------------------------------
    async def code_view(self) -> None:
        detail = self.detail
        if detail is None or not detail.versions:
            ui.label("No version registered.").classes("text-grey-7")
            return
        numbers = [v.version_number for v in detail.versions]

        async def show(number: int) -> None:
            try:
                principal = await self.access.dag(self.dag_id, READ)
            except LeoflowError as exc:
                ui.notify(str(exc), type="negative")
                return
            source = await queries.version_source(self.plane, self.dag_id, number,
                                                  tenant=principal.tenant)
            box.clear()
            with box:
                ui.code(source or "# this version was registered without its source",
                        language="python").classes("w-full").props(
                    'data-testid="version-code"')

        ui.select({n: f"version {n}" for n in reversed(numbers)}, value=numbers[-1],
                  label="Version", on_change=lambda e: show(e.value)).classes("w-48").props(
            'data-testid="version-select"')
        box = ui.column().classes("w-full")
        await show(numbers[-1])

    # -- runs ------------------------------------------------------------------------------
    @ui.refreshable_method
    def runs_view(self) -> None:
        rows = [{"run_id": r.run_id, "state": r.state, "type": r.run_type,
                 "version": r.version_number or "-", "started": format_time(r.start_date),
                 "ended": format_time(r.end_date), "duration": format_duration(r.duration),
                 "triggered_by": r.triggered_by or "-",
                 "url": run_url(self.dag_id, r.run_id)} for r in self.history]
        columns = [{"name": k, "label": k.replace("_", " ").title(), "field": k,
                    "align": "left"} for k in
                   ("run_id", "state", "type", "version", "started", "ended", "duration",
                    "triggered_by")]
        table = ui.table(rows=rows, columns=columns, row_key="run_id",
                         pagination=20).classes("w-full").props(
            'dense flat data-testid="run-history"')
        colors = json.dumps(STATE_COLORS).replace('"', "'")
        table.add_slot("body-cell-state", f"""
            <q-td :props="props"><q-badge :label="props.value" text-color="black"
              :style="'background:' + ({colors}[props.value] || '#9e9e9e')"/></q-td>""")
        table.add_slot("body-cell-run_id", """
            <q-td :props="props"><a :href="props.row.url" class="leoflow-mono text-primary"
              data-testid="run-history-link">{{ props.value }}</a></q-td>""")

    # -- task instances --------------------------------------------------------------------
    async def open_task(self, task_id: str, *, run_id: str | None = None,
                        map_index: int = -1) -> None:
        run_id = run_id or self.selected_run
        if run_id is None or self.panel_box is None:
            ui.notify("No run yet: trigger one to see its task instances")
            return
        self.panel_box.set_visibility(True)
        self.panel = await open_panel(self.panel_box, self.services, self.hub, self.access,
                                      self.dag_id, run_id, task_id, map_index,
                                      previous=self.panel, on_close=self.close_task)

    def close_task(self) -> None:
        if self.panel is not None:
            self.panel.close()
            self.panel = None
        if self.panel_box is not None:
            self.panel_box.clear()
            self.panel_box.set_visibility(False)

    async def refresh(self) -> None:
        try:
            await self.load()
        except AccessDenied as exc:  # demoted, deleted, or the DAG changed hands
            self.detail, self.history = None, []
            self.close_task()
            ui.notify(exc.message, type="warning")
        self.header_controls.refresh()
        await self.show_grid()
        self.runs_view.refresh()
        await self.update_graph()


def register(services: IdeServices, hub: EventHub) -> None:
    async def build(request: Request, dag_id: str, run_id: str | None, task_id: str | None,
                    map_index: int) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="DAGs"):
            try:  # another tenant's DAG reads exactly as one that does not exist
                await access.dag(dag_id, READ)
            except AccessDenied:
                ui.label(f"There is no DAG {dag_id!r}.").classes("text-h6").props(
                    'data-testid="no-dag"')
                ui.link("Back to the DAGs", "/dags")
                return None
            page = DagPage(services, hub, access, dag_id)
            await page.build(run_id, task_id, map_index)
        return None

    @ui.page("/dags/{dag_id}", title="DAG · Leoflow Lite")
    async def dag_page(request: Request, dag_id: str, run_id: str | None = Query(None),
                       task_id: str | None = Query(None), map_index: int = Query(-1)) -> Any:
        return await build(request, dag_id, run_id, task_id, map_index)

    @ui.page("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", title="Task · Leoflow Lite")
    async def task_page(request: Request, dag_id: str, run_id: str, task_id: str,
                        map_index: int = Query(-1)) -> Any:
        return await build(request, dag_id, run_id, task_id, map_index)
