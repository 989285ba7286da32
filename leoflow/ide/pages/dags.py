"""The DAGs page: every DAG with its pause toggle, schedule, last run, next run and recent
runs as coloured squares; import errors on top; Trigger and Restore bundled examples.

Only the DAGs and import errors of the user's current tenant; every load and action asks the
page's ``Access`` first (the role and tenant of this moment, not of the page's opening)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from nicegui import run, ui

from leoflow.engine.auth.permissions import EDIT_RUNS, MANAGE_DAGS, READ, role_allows
from leoflow.errors import LeoflowError
from leoflow.ide import queries, session
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.events import EventHub, LiveRegion
from leoflow.ide.examples import download_examples
from leoflow.ide.hitl import RequiredActions
from leoflow.ide.layout import format_time, frame, notifier, preformatted, state_badge
from leoflow.ide.project_hint import create_project_file, folders_without_project_file
from leoflow.ide.services import IdeServices
from leoflow.ide.theme import square_style
from leoflow.ide.trigger import open_trigger_dialog

PAUSED_POLICY = ("New DAGs with a schedule (cron, timedelta, @once) start paused, as in "
                 "Airflow: switch one on to let its schedule run. DAGs run only by Trigger "
                 "start active.")
STALE_HINT = ("Stale: its file was deleted or no longer defines it. Its runs and logs stay; "
              "it cannot be triggered until its file defines it again.")


def stale_chip() -> ui.chip:
    """The mark of a stale DAG (the DAGs page and the DAG page)."""
    chip = ui.chip("stale", icon="link_off", color="grey-5").props(
        'dense outline data-testid="dag-stale"')
    chip.tooltip(STALE_HINT)
    return chip


class DagsPage:
    def __init__(self, services: IdeServices, hub: EventHub, access: Access) -> None:
        self.services = services
        self.plane = services.require_plane()
        self.hub = hub
        self.access = access
        self.principal = access.principal
        self.summaries: list[queries.DagSummary] = []
        self.errors: list[Any] = []
        self.without_yaml: list[str] = []  # folders with dag.py and no leoflow.yaml
        self.filter = ""
        self.can_edit = role_allows(self.principal.role, EDIT_RUNS)

    async def load(self) -> None:
        try:
            principal = await self.access.check(READ)
        except AccessDenied:
            self.summaries, self.errors = [], []
            raise
        self.summaries = await queries.dag_summaries(self.plane, tenant=principal.tenant)
        self.errors = await queries.list_import_errors(self.plane, tenant=principal.tenant)
        try:
            files = await self.access.workspace(READ)
        except LeoflowError:
            self.without_yaml = []
        else:
            self.without_yaml = await run.io_bound(folders_without_project_file,
                                                   files.root) or []

    async def build(self) -> None:
        await self.load()
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("DAGs").classes("text-h5")
            ui.input(placeholder="Filter by DAG id or tag",
                     on_change=self._filtered).props("dense clearable").classes("w-72")
            ui.space()
            ui.button("Restore bundled examples", icon="settings_backup_restore",
                      on_click=self.download_examples).props(
                'outline data-testid="download-examples"').tooltip(
                "Copy the examples that come with Leoflow into examples/ again: missing and "
                "untouched files are restored, files you changed are kept unless you say so")
        with ui.row().classes("items-center gap-1 text-caption text-grey-7").props(
                'data-testid="paused-policy"'):
            ui.icon("info", size="xs")
            ui.label(PAUSED_POLICY)
        self.error_banner()
        self.project_hints()
        await RequiredActions(self.plane, self.hub, self.access).build()
        self.table()
        LiveRegion(self.hub, self._matches, self.refresh)

    def _matches(self, kind: str, _data: dict[str, Any]) -> bool:
        return kind in ("run.running", "run.finished", "ti.queued", "dag.changed",
                        "compile", "files.changed")

    def _filtered(self, event: Any) -> None:
        self.filter = (event.value or "").strip().lower()
        self.table.refresh()

    async def refresh(self) -> None:
        try:
            await self.load()
        except AccessDenied as exc:
            ui.notify(exc.message, type="warning")
        self.error_banner.refresh()
        self.project_hints.refresh()
        self.table.refresh()

    @ui.refreshable_method
    def error_banner(self) -> None:
        if not self.errors:
            return
        with ui.card().classes("w-full bg-red-1").props('flat bordered data-testid='
                                                       '"import-errors"'):
            with ui.row().classes("items-center gap-2 text-negative"):
                ui.icon("error")
                count = len(self.errors)
                ui.label(f"{count} import error{'s' if count != 1 else ''}").classes(
                    "text-subtitle1")
            for error in self.errors:
                with ui.expansion(error.filename, icon="description",
                                  value=count <= 3).classes("w-full"):
                    ui.label(error.message).classes("leoflow-mono text-negative")
                    if error.stack_trace:
                        preformatted(error.stack_trace)
                    ui.button("Open in the editor", icon="edit", on_click=lambda
                              f=error.filename: ui.navigate.to(f"/editor?file={quote(f)}")).props(
                        "flat dense")

    @ui.refreshable_method
    def project_hints(self) -> None:
        """A folder with dag.py but no leoflow.yaml is no project: say so, offer the file."""
        for folder in self.without_yaml:
            card = ui.card().classes("w-full bg-amber-1 text-black").props(
                f'flat bordered data-testid="missing-yaml" data-folder="{folder}"')
            with card, ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon("lightbulb", color="amber-9")
                ui.label(f"{folder}/ has a dag.py but no leoflow.yaml, so it is no project "
                         "of its own: Lite reads it with the workspace's shared "
                         "requirements. Create leoflow.yaml from the template (as leoflow "
                         "init does) to give it its own dag_id, Python version and "
                         "dependencies.").classes(
                    "text-body2 grow")
                ui.button("Create leoflow.yaml", icon="note_add",
                          on_click=lambda f=folder: self.create_project_file(f)).props(
                    'outline dense data-testid="create-yaml"').set_enabled(
                    role_allows(self.principal.role, MANAGE_DAGS))

    async def create_project_file(self, folder: str) -> None:
        notify = notifier()
        try:
            files = await self.access.workspace(MANAGE_DAGS)
            written = await run.io_bound(create_project_file, files.root, folder)
        except (LeoflowError, OSError) as exc:
            notify(f"Not created: {exc}", type="negative")
            return
        if written is None:  # the app is stopping
            return
        notify(f"Created {folder}/leoflow.yaml: Lite compiles {folder} as a project now",
               type="positive")
        self.hub.publish("files.changed", {})
        await self.refresh()

    @ui.refreshable_method
    def table(self) -> None:
        rows = [s for s in self.summaries
                if not self.filter or self.filter in s.dag_id.lower()
                or any(self.filter in t.lower() for t in s.tags)]
        if not self.summaries:
            with ui.card().classes("w-full items-center").props('flat bordered'):
                ui.label("No DAGs yet.").classes("text-h6")
                ui.label("Open the editor to write one, or restore the bundled examples."
                         ).classes(
                    "text-body2")
            return
        columns = "auto minmax(12rem,2fr) 1fr auto 1fr auto auto"
        with ui.grid(columns=columns).classes("w-full items-center gap-x-4 gap-y-1").props(
                'data-testid="dag-list"'):
            for title in ("Active", "DAG", "Schedule", "Last run", "Next run", "Recent runs",
                          ""):
                ui.label(title).classes("text-caption text-grey-7")
            for summary in rows:
                self.row(summary)

    def row(self, s: queries.DagSummary) -> None:
        toggle = ui.switch(value=not s.is_paused,
                           on_change=lambda e, d=s.dag_id: self.set_paused(d, not e.value))
        toggle.props(f'dense data-testid="pause-{s.dag_id}"').tooltip(
            "Paused" if s.is_paused else "Active")
        toggle.set_enabled(self.can_edit)
        with ui.column().classes("gap-0"):
            with ui.row().classes("items-center gap-2 no-wrap"):
                ui.link(s.dag_id, f"/dags/{quote(s.dag_id)}").classes(
                    "leoflow-mono text-body1").props(f'data-testid="dag-link-{s.dag_id}"')
                if s.is_stale:
                    stale_chip()
            if s.tags:
                with ui.row().classes("gap-1"):
                    for tag in s.tags:
                        ui.badge(tag, color="grey-4", text_color="black").props("rounded")
        ui.label(s.schedule).classes("leoflow-mono text-body2")
        state_badge(s.last_state).props(f'data-testid="last-state-{s.dag_id}"')
        ui.label(format_time(s.next_run)).classes("text-body2")
        with ui.row().classes("gap-1 no-wrap"):
            for run in s.recent:
                square = ui.element("span").style(square_style(run.state)).classes(
                    "leoflow-square")
                square.props(f'data-state="{run.state}"')
                square.tooltip(f"{run.run_id}: {run.state}")
                square.on("click", lambda _e, d=s.dag_id, r=run.run_id:
                          ui.navigate.to(f"/dags/{quote(d)}?run_id={quote(r)}"))
        ui.button(icon="play_arrow", on_click=lambda d=s.dag_id: self.trigger(d)).props(
            f'flat round dense color=primary data-testid="trigger-{s.dag_id}"').tooltip(
            "Trigger" if not s.is_stale else STALE_HINT).set_enabled(
            self.can_edit and s.has_version and not s.is_stale)

    async def set_paused(self, dag_id: str, paused: bool) -> None:
        try:
            principal = await self.access.dag(dag_id, EDIT_RUNS)
            await self.plane.operations.set_paused(dag_id, paused, user=principal.username)
        except LeoflowError as exc:
            ui.notify(str(exc), type="negative")
            return
        self.hub.publish("dag.changed", {"dag_id": dag_id})

    async def trigger(self, dag_id: str) -> None:
        await open_trigger_dialog(self.services, self.hub, self.access, dag_id)

    async def download_examples(self) -> None:
        """Examples go into the user's own files (its tenant's folder): writing files."""
        try:
            workspace = await self.access.workspace(MANAGE_DAGS)
        except LeoflowError as exc:
            ui.notify(str(exc), type="negative")
            return
        await download_examples(self.services, self.hub, workspace.root,
                                recheck=lambda: self.access.workspace(MANAGE_DAGS))


def register(services: IdeServices, hub: EventHub) -> None:
    @ui.page("/dags", title="DAGs · Leoflow Lite")
    async def dags_page(request: Request) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="DAGs"):
            await DagsPage(services, hub, access).build()
        return None
