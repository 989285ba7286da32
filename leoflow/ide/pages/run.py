"""One run's page (``/dags/<dag_id>/runs/<run_id>``): its state, type, version, dates and
who triggered it; Clear, Mark success, Mark failed and Delete, each confirmed and reported;
its note (editable) and conf; a Gantt chart of every try; its task instances, each with
what it ran (the rendered command of a try, beside the arguments as written).

Updates arrive by push (the DAG's events). Every read and action asks ``Access`` first: a
Viewer reads and changes nothing, another tenant's run does not exist here.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import Request
from nicegui import ui

from leoflow.engine.auth.permissions import EDIT_RUNS, READ, role_allows
from leoflow.engine.services import run_edits, run_pages
from leoflow.engine.services.run_pages import RunDetail
from leoflow.errors import LeoflowError
from leoflow.ide import gantt, session
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.events import EventHub, LiveRegion, for_dag
from leoflow.ide.layout import format_duration, format_time, frame, state_badge
from leoflow.ide.services import IdeServices
from leoflow.ide.urls import task_url
from leoflow.ide.view_kit import ResultLine, columns, confirm, page_notifier, state_slot


class RunPage:
    def __init__(self, services: IdeServices, hub: EventHub, access: Access, dag_id: str,
                 run_id: str) -> None:
        self.services = services
        self.plane = services.require_plane()
        self.hub = hub
        self.access = access
        self.dag_id = dag_id
        self.run_id = run_id
        self.detail: RunDetail | None = None
        self.can_edit = role_allows(access.principal.role, EDIT_RUNS)
        self.result: ResultLine | None = None

    async def load(self) -> None:
        principal = await self.access.dag(self.dag_id, READ)
        self.detail = await run_pages.run_detail(self.plane.store, self.dag_id, self.run_id,
                                                 tenant=principal.tenant)

    async def build(self) -> None:
        await self.load()
        ui.add_css(gantt.GANTT_CSS)
        with ui.row().classes("w-full items-center gap-2 text-body2"):
            ui.link("DAGs", "/dags")
            ui.label("/")
            ui.link(self.dag_id, f"/dags/{quote(self.dag_id, safe='')}").classes(
                "leoflow-mono")
            ui.label("/")
            ui.label(self.run_id).classes("leoflow-mono").props('data-testid="run-id"')
        self.summary()
        with ui.row().classes("w-full items-center gap-2"):
            for name, icon, handler, testid in (
                    ("Clear", "restart_alt", self.clear, "run-clear"),
                    ("Clear failed", "replay", self.clear_failed, "run-clear-failed"),
                    ("Mark success", "check_circle", lambda: self.mark("success"),
                     "run-mark-success"),
                    ("Mark failed", "cancel", lambda: self.mark("failed"), "run-mark-failed"),
                    ("Delete", "delete", self.delete, "run-delete")):
                button = ui.button(name, icon=icon, on_click=handler).props(
                    f'outline no-caps data-testid="{testid}"'
                    + (" color=negative" if testid == "run-delete" else ""))
                button.set_enabled(self.can_edit)
                if not self.can_edit:
                    button.tooltip("your role may read runs, not change them")
        self.result = ResultLine("run-action-result")
        with ui.tabs().props("align=left dense").classes("w-full") as tabs:
            gantt_tab = ui.tab("Gantt", icon="view_timeline")
            tasks_tab = ui.tab("Task instances", icon="list")
            details_tab = ui.tab("Note & conf", icon="notes")
        with ui.tab_panels(tabs, value=gantt_tab).classes("w-full"):
            with ui.tab_panel(gantt_tab):
                self.gantt_view()
            with ui.tab_panel(tasks_tab):
                self.tasks_view()
            with ui.tab_panel(details_tab):
                self.details_view()
        LiveRegion(self.hub, for_dag(self.dag_id), self.refresh)

    # -- sections --------------------------------------------------------------------------
    @ui.refreshable_method
    def summary(self) -> None:
        detail = self.detail
        if detail is None:
            ui.label(f"There is no run {self.run_id!r} of {self.dag_id} (deleted, or never "
                     "made).").classes("text-h6").props('data-testid="run-gone"')
            return
        run = detail.run
        with ui.row().classes("w-full items-center gap-4 q-py-xs").props(
                'data-testid="run-summary"'):
            state_badge(run.state).props('data-testid="run-state"').classes("text-body2")
            for label, value in (
                    ("type", run.run_type), ("version", f"v{detail.version_number}"
                                             if detail.version_number else "-"),
                    ("run after", format_time(run.run_after)),
                    ("started", format_time(run.start_date)),
                    ("ended", format_time(run.end_date)),
                    ("duration", format_duration(_duration(detail))),
                    ("triggered by", run.triggering_user_name or run.triggered_by or "-")):
                with ui.column().classes("gap-0"):
                    ui.label(label).classes("text-caption text-grey-7")
                    ui.label(str(value)).classes("text-body2")

    @ui.refreshable_method
    def gantt_view(self) -> None:
        if self.detail is not None:
            gantt.draw(self.detail.bars, on_click=self.open_task)

    @ui.refreshable_method
    def tasks_view(self) -> None:
        detail = self.detail
        if detail is None:
            return
        rows = [{"key": f"{ti.task_id}|{ti.map_index}", "task_id": ti.task_id,
                 "map_index": ti.map_index if ti.map_index >= 0 else "",
                 "state": ti.state, "try": ti.try_number, "operator": ti.operator or "-",
                 "started": format_time(ti.start_date),
                 "duration": format_duration(ti.duration)} for ti in detail.instances]
        table = ui.table(rows=rows, columns=columns(
            "task_id", "map_index", "state", "try", "operator", "started", "duration",
            labels={"map_index": "Map index", "task_id": "Task"}), row_key="key",
            pagination=50).classes("w-full").props('dense flat data-testid="run-tasks"')
        state_slot(table)
        table.add_slot("body-cell-task_id", """
            <q-td :props="props"><a class="leoflow-mono cursor-pointer text-primary"
              @click="$parent.$emit('open', props.row)">{{ props.value }}</a>
              <q-btn flat dense size="sm" icon="terminal" data-testid="rendered-button"
                @click="$parent.$emit('rendered', props.row)">
                <q-tooltip>What it ran</q-tooltip></q-btn></q-td>""")
        table.on("open", lambda e: self.open_task(e.args["task_id"], _index(e.args)))
        table.on("rendered", lambda e: self.show_rendered(e.args["task_id"], _index(e.args)))

    @ui.refreshable_method
    def details_view(self) -> None:
        detail = self.detail
        if detail is None:
            return
        run = detail.run
        ui.label("Note").classes("text-subtitle2")
        note = ui.textarea(value=run.note or "", placeholder="What happened in this run"
                           ).classes("w-full").props('outlined autogrow data-testid="run-note"')
        note.set_enabled(self.can_edit)
        ui.button("Save note", icon="save", on_click=lambda: self.save_note(note.value)).props(
            'no-caps data-testid="run-note-save"').set_enabled(self.can_edit)
        ui.label("Conf").classes("text-subtitle2 q-mt-md")
        ui.code(json.dumps(run.conf or {}, indent=2, sort_keys=True), language="json").classes(
            "w-full").props('data-testid="run-conf"')

    # -- actions ---------------------------------------------------------------------------
    async def _act(self, title: str, text: str, action: str, *, danger: bool = False) -> Any:
        """Confirm, then the principal allowed to change the run now (None: not done)."""
        notify = page_notifier()
        if not await confirm(title, text, action, danger=danger, testid="run-confirm"):
            return None
        try:
            return await self.access.dag(self.dag_id, EDIT_RUNS)
        except AccessDenied as exc:
            notify(exc.message, type="negative")
            self._say(exc.message, ok=False)
            return None

    def _say(self, text: str, *, ok: bool = True) -> None:
        if self.result is not None:
            self.result.show(text, ok=ok)

    async def clear(self, *, only_failed: bool = False) -> None:
        notify = page_notifier()
        what = "its failed task instances" if only_failed else "every task instance"
        principal = await self._act("Clear the run?", f"{what.capitalize()} of {self.run_id} "
                                    "will run again (with the DAG's current version).", "Clear")
        if principal is None:
            return
        try:
            cleared = await self.plane.operations.clear_task_instances(
                self.dag_id, self.run_id, None, only_failed=only_failed,
                user=principal.username)
        except LeoflowError as exc:
            notify(str(exc), type="negative")
            self._say(str(exc), ok=False)
            return
        text = (f"Cleared {len(cleared)} task instance{'s' if len(cleared) != 1 else ''}: "
                "the run is queued again" if cleared else "Nothing to clear")
        notify(text, type="positive" if cleared else "info")
        self._say(text)
        await self.refresh()

    async def clear_failed(self) -> None:
        await self.clear(only_failed=True)

    async def mark(self, state: str) -> None:
        notify = page_notifier()
        principal = await self._act(
            f"Mark the run {state}?",
            "Its unfinished task instances succeed." if state == "success" else
            "Its running task instances fail and the others are skipped.", f"Mark {state}",
            danger=state == "failed")
        if principal is None:
            return
        try:
            await self.plane.operations.mark_run(self.dag_id, self.run_id, state,
                                                 user=principal.username)
        except LeoflowError as exc:
            notify(str(exc), type="negative")
            self._say(str(exc), ok=False)
            return
        notify(f"Run marked {state}", type="positive")
        self._say(f"Run marked {state}")
        await self.refresh()

    async def delete(self) -> None:
        notify = page_notifier()
        principal = await self._act(
            "Delete the run?", f"{self.run_id}, its task instances, logs references and XComs "
            "are deleted. This cannot be undone.", "Delete", danger=True)
        if principal is None:
            return
        try:
            await self.plane.operations.delete_run(self.dag_id, self.run_id,
                                                   user=principal.username)
        except LeoflowError as exc:
            notify(str(exc), type="negative")
            self._say(str(exc), ok=False)
            return
        self.hub.publish("dag.changed", {"dag_id": self.dag_id})
        ui.navigate.to(f"/runs?dag_id={quote(self.dag_id, safe='')}&deleted="
                       f"{quote(self.run_id, safe='')}")

    async def save_note(self, text: str) -> None:
        notify = page_notifier()
        try:
            principal = await self.access.dag(self.dag_id, EDIT_RUNS)
            detail = self.detail
            if detail is None:
                raise LeoflowError("this run no longer exists")
            await run_edits.set_run_note(self.plane.operations, detail.run, text or None,
                                         user=principal.username)
        except LeoflowError as exc:
            notify(str(exc), type="negative")
            self._say(str(exc), ok=False)
            return
        notify("Note saved", type="positive")
        self._say("Note saved")

    async def open_task(self, task_id: str, map_index: int = -1) -> None:
        ui.navigate.to(task_url(self.dag_id, self.run_id, task_id, map_index))

    async def show_rendered(self, task_id: str, map_index: int) -> None:
        from leoflow.ide.rendered import open_rendered_dialog

        await open_rendered_dialog(self.services, self.access, self.dag_id, self.run_id,
                                   task_id, map_index, self.detail)

    async def refresh(self) -> None:
        try:
            await self.load()
        except AccessDenied as exc:
            self.detail = None
            ui.notify(exc.message, type="warning")
        self.summary.refresh()
        self.gantt_view.refresh()
        self.tasks_view.refresh()


def _duration(detail: RunDetail) -> float | None:
    run = detail.run
    if run.start_date is None:
        return None
    end = run.end_date or gantt._now(run.start_date)
    return max(0.0, (end - run.start_date).total_seconds())


def _index(row: dict[str, Any]) -> int:
    value = row.get("map_index")
    return int(value) if isinstance(value, int) or (isinstance(value, str) and value) else -1


def register(services: IdeServices, hub: EventHub) -> None:
    @ui.page("/dags/{dag_id}/runs/{run_id}", title="Run · Leoflow Lite")
    async def run_page(request: Request, dag_id: str, run_id: str) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="Runs"):
            try:
                await access.dag(dag_id, READ)
            except AccessDenied:
                ui.label(f"There is no DAG {dag_id!r}.").classes("text-h6").props(
                    'data-testid="no-dag"')
                ui.link("Back to the runs", "/runs")
                return None
            page = RunPage(services, hub, access, dag_id, run_id)
            await page.build()
        return None
