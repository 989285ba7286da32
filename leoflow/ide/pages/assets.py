"""The Assets page (every asset of the user's tenant with its last event, producers and
consumers) and an asset's page (its events with their source runs, extras and the runs
they started; Materialize). Both update by push. Each read and the materialize ask the
page's ``Access`` first (the user's current role and tenant), as the other pages do."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from nicegui import ui

from leoflow.engine.auth.permissions import READ
from leoflow.errors import LeoflowError
from leoflow.ide import asset_reads, session
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.asset_widgets import event_source, extra_text, run_chip
from leoflow.ide.events import EventHub, LiveRegion
from leoflow.ide.layout import format_time, frame
from leoflow.ide.services import IdeServices

# columns shrink below their content (long run ids wrap instead of overlapping the next)
LIST_COLUMNS = "minmax(0,1fr) minmax(0,1.5fr) minmax(0,1.5fr) minmax(0,1fr)"
WRAP = "overflow-wrap: anywhere"


def dag_link(dag_id: str, task_id: str | None = None) -> None:
    text = f"{dag_id}.{task_id}" if task_id else dag_id
    ui.link(text, f"/dags/{quote(dag_id, safe='')}").classes("leoflow-mono text-body2").style(
        WRAP).props(f'data-testid="asset-dag" data-dag="{dag_id}"')


def nobody() -> None:
    ui.label("-").classes("text-grey-6")


async def current_tenant(access: Access) -> str | None:
    """The user's tenant now, or None when the user may no longer read (the page then
    shows nothing; a user whose session ended is told so)."""
    try:
        return (await access.check(READ)).tenant
    except AccessDenied as exc:
        ui.notify(exc.message, type="warning")
        return None


class AssetsPage:
    def __init__(self, services: IdeServices, hub: EventHub, access: Access) -> None:
        self.plane = services.require_plane()
        self.hub = hub
        self.access = access
        self.assets: list[asset_reads.AssetSummary] = []
        self.filter = ""

    async def load(self) -> None:
        tenant = await current_tenant(self.access)
        self.assets = [] if tenant is None else await asset_reads.asset_list(self.plane,
                                                                             tenant)

    async def build(self) -> None:
        await self.load()
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Assets").classes("text-h5")
            ui.input(placeholder="Filter by name or URI", on_change=self._filtered).props(
                'dense clearable data-testid="asset-filter"').classes("w-72")
        self.table()
        LiveRegion(self.hub, asset_reads.matches_assets, self.refresh)

    def _filtered(self, event: Any) -> None:
        self.filter = (event.value or "").strip().lower()
        self.table.refresh()

    async def refresh(self) -> None:
        await self.load()
        self.table.refresh()

    @ui.refreshable_method
    def table(self) -> None:
        if not self.assets:
            with ui.card().classes("w-full items-center").props(
                    'flat bordered data-testid="assets-empty"'):
                ui.label("No assets yet.").classes("text-h6")
                ui.label("A DAG names an asset in a task's outlets, in its schedule or in "
                         "@asset; it shows here once the DAG compiles.").classes("text-body2")
            return
        rows = [a for a in self.assets if not self.filter or self.filter in a.name.lower()
                or self.filter in a.uri.lower()]
        with ui.grid(columns=LIST_COLUMNS).classes(
                "w-full items-start gap-x-6 gap-y-2").props('data-testid="asset-list"'):
            for title in ("Asset", "Last event", "Produced by", "Consumed by"):
                ui.label(title).classes("text-caption text-grey-7")
            for summary in rows:
                self.row(summary)

    def row(self, a: asset_reads.AssetSummary) -> None:
        with ui.column().classes("gap-0"):
            ui.link(a.name, f"/assets/{a.id}").classes("leoflow-mono text-body1").style(
                WRAP).props(f'data-testid="asset-link" data-asset="{a.name}"')
            if a.uri != a.name:
                ui.label(a.uri).classes("leoflow-mono text-caption text-grey-7").style(WRAP)
            if a.group != "asset":
                ui.badge(a.group, color="grey-4", text_color="black").props("rounded")
        with ui.column().classes("gap-0").props(
                f'data-testid="asset-last-event" data-asset="{a.name}"'):
            if a.last_event is None:
                ui.label("never updated").classes("text-caption text-grey-6")
            else:
                ui.label(format_time(a.last_event.timestamp)).classes("text-body2")
                event_source(a.last_event)
        with ui.column().classes("gap-0"):
            for dag_id, task_id in a.producers:
                dag_link(dag_id, task_id)
            if not a.producers:
                nobody()
        with ui.column().classes("gap-0"):
            for dag_id in a.consumers:
                with ui.row().classes("items-center gap-1 no-wrap"):
                    dag_link(dag_id)
                    if dag_id in a.waiting:
                        ui.badge("event queued", color="green-1", text_color="green-9").props(
                            "rounded").tooltip("Seen by this consumer, which waits for the "
                                               "rest of its condition")
            if not a.consumers:
                nobody()


class AssetPageView:
    def __init__(self, services: IdeServices, hub: EventHub, access: Access, asset_id: int) -> None:
        self.plane = services.require_plane()
        self.hub = hub
        self.access = access
        self.asset_id = asset_id
        self.page: asset_reads.AssetPage | None = None

    async def load(self) -> None:
        tenant = await current_tenant(self.access)
        self.page = None if tenant is None else await asset_reads.asset_page(
            self.plane, tenant, self.asset_id)

    async def build(self, page: asset_reads.AssetPage) -> None:
        self.page = page
        a = page.asset
        with ui.row().classes("w-full items-center gap-3"):
            ui.link("Assets", "/assets").classes("text-body1")
            ui.label("/").classes("text-grey-6")
            ui.label(a.name).classes("text-h5 leoflow-mono").props('data-testid="asset-name"')
            if a.group != "asset":
                ui.badge(a.group, color="grey-4", text_color="black").props("rounded")
            ui.space()
            ui.button("Materialize", icon="play_arrow", on_click=self.materialize).props(
                'color=primary data-testid="asset-materialize"').set_enabled(
                await asset_reads.can_materialize(self.access))
        self.about()
        self.events()
        LiveRegion(self.hub, asset_reads.matches_assets, self.refresh)

    async def refresh(self) -> None:
        await self.load()
        self.about.refresh()
        self.events.refresh()

    @ui.refreshable_method
    def about(self) -> None:
        page = self.page
        if page is None:
            ui.label("This asset no longer exists.").classes("text-negative")
            return
        a = page.asset
        with ui.grid(columns="auto 1fr").classes("gap-x-6 gap-y-1 items-start"):
            ui.label("URI").classes("text-caption text-grey-7")
            ui.label(a.uri).classes("leoflow-mono text-body2").props('data-testid="asset-uri"')
            if a.extra:
                ui.label("Extra").classes("text-caption text-grey-7")
                ui.label(extra_text(a.extra)).classes("leoflow-mono text-body2")
            ui.label("Produced by").classes("text-caption text-grey-7")
            with ui.row().classes("gap-3"):
                for dag_id, task_id in a.producers:
                    dag_link(dag_id, task_id)
                if not a.producers:
                    nobody()
            ui.label("Consumed by").classes("text-caption text-grey-7")
            with ui.row().classes("gap-3"):
                for dag_id in a.consumers:
                    with ui.row().classes("items-center gap-1").props(
                            f'data-testid="asset-consumer" data-dag="{dag_id}" '
                            f'data-waiting="{"true" if dag_id in a.waiting else "false"}"'):
                        dag_link(dag_id)
                        if dag_id in a.waiting:
                            ui.badge("event queued", color="green-1",
                                     text_color="green-9").props("rounded")
                if not a.consumers:
                    nobody()
            if a.readers:
                ui.label("Read by").classes("text-caption text-grey-7")
                with ui.row().classes("gap-3"):
                    for dag_id, task_id in a.readers:
                        dag_link(dag_id, task_id)
            if a.aliases:
                ui.label("Aliases").classes("text-caption text-grey-7")
                ui.label(", ".join(a.aliases)).classes("leoflow-mono text-body2")
            ui.label("Materialize").classes("text-caption text-grey-7")
            if page.materialize_dag is not None:
                ui.label(f"runs {page.materialize_dag}").classes("text-body2").props(
                    'data-testid="materialize-hint"')
            else:
                ui.label(page.materialize_problem or "").classes(
                    "text-body2 text-grey-8").props('data-testid="materialize-hint"')

    @ui.refreshable_method
    def events(self) -> None:
        page = self.page
        if page is None:
            return
        shown, total = len(page.events), page.total_events
        title = f"Events ({total})" if shown == total else f"Events (latest {shown} of {total})"
        ui.label(title).classes("text-subtitle1 q-mt-md")
        if not page.events:
            ui.label("No event yet: a producing task's success, Materialize or "
                     "POST /api/v2/assets/events makes one.").classes(
                "text-caption text-grey-7").props('data-testid="asset-events-empty"')
            return
        with ui.grid(columns="auto auto minmax(0,1.5fr) minmax(0,1fr) minmax(0,1.5fr)").classes(
                "w-full items-start gap-x-4 gap-y-1").props('data-testid="asset-events"'):
            for title in ("#", "Time", "Source run", "Extra", "Started runs"):
                ui.label(title).classes("text-caption text-grey-7")
            for event in page.events:
                ui.label(str(event.id)).classes("text-caption leoflow-mono").props(
                    f'data-testid="asset-event" data-event-id="{event.id}"')
                ui.label(format_time(event.timestamp)).classes("text-body2")
                with ui.column().classes("gap-0"):
                    event_source(event)
                    details = []
                    if event.source_task_id:
                        details.append(f"task {event.source_task_id}"
                                       + (f"[{event.source_map_index}]"
                                          if (event.source_map_index or -1) >= 0 else ""))
                    if event.source_alias:
                        details.append(f"through alias {event.source_alias}")
                    if event.partition_key is not None:
                        details.append(f"partition {event.partition_key}")
                    if details:
                        ui.label(" · ".join(details)).classes("text-caption text-grey-7")
                ui.label(extra_text(event.extra) if event.extra else "-").classes(
                    "leoflow-mono text-caption").style("word-break: break-all")
                with ui.row().classes("gap-1 min-w-0"):
                    for run in event.runs:
                        run_chip(run)
                    if not event.runs:
                        ui.label("-").classes("text-grey-6")

    async def materialize(self) -> None:
        name = self.page.asset.name if self.page else str(self.asset_id)
        try:
            run = await asset_reads.materialize(self.plane, self.access, self.asset_id)
        except AccessDenied as exc:
            ui.notify(f"Cannot materialize {name}: {exc.message}", type="negative")
            return
        except LeoflowError as exc:
            await self.load()
            reason = self.page.materialize_problem if self.page else None
            ui.notify(f"Cannot materialize {name}: {reason or exc}", type="negative",
                      multi_line=True)
            return
        ui.notify(f"Materializing {name}: {run.dag_id} run {run.run_id}", type="positive")
        self.hub.publish("asset.materialized", {"dag_id": run.dag_id, "run_id": run.run_id,
                                                "asset_id": self.asset_id})


def register(services: IdeServices, hub: EventHub) -> None:
    @ui.page("/assets", title="Assets · Leoflow Lite")
    async def assets_page(request: Request) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="Assets"):
            await AssetsPage(services, hub, access).build()
        return None

    @ui.page("/assets/{asset_id}", title="Asset · Leoflow Lite")
    async def asset_page(request: Request, asset_id: int) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="Assets"):
            # another tenant's asset reads exactly as one that does not exist
            found = await asset_reads.asset_page(services.require_plane(),
                                                 access.principal.tenant, asset_id)
            if found is None:
                ui.label(f"There is no asset {asset_id}.").classes("text-h6").props(
                    'data-testid="no-asset"')
                ui.link("Back to the assets", "/assets")
                return None
            await AssetPageView(services, hub, access, asset_id).build(found)
        return None
