"""Asset pieces of the IDE's pages: links to assets and source runs, an event's extra, and
the DAG page's asset section (what the DAG consumes, seen or waiting, what it produces,
and the events that started the selected run). Everything updates by push."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from nicegui import ui

from leoflow.engine.auth.permissions import READ
from leoflow.engine.services.asset_views import AssetLabel, EventView, LeafView, RunLink
from leoflow.engine.services.container import Services
from leoflow.ide import asset_reads
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.events import EventHub, LiveRegion
from leoflow.ide.layout import format_time
from leoflow.ide.theme import state_color, text_color

SEEN_COLOR = "#008000"  # Airflow's success green: the event has arrived
WAITING_COLOR = "#9e9e9e"


def run_url(dag_id: str, run_id: str) -> str:
    return f"/dags/{quote(dag_id, safe='')}?run_id={quote(run_id, safe='')}"


def asset_url(asset_id: int) -> str:
    return f"/assets/{asset_id}"


def short_time(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment is not None else "-"


def extra_text(extra: Mapping[str, Any]) -> str:
    return json.dumps(dict(extra), sort_keys=True, ensure_ascii=False, default=str)


def asset_label(label: AssetLabel) -> None:
    """A reference: a link to its asset's page when it names exactly one asset."""
    if label.asset_id is not None:
        ui.link(label.label, asset_url(label.asset_id)).classes("leoflow-mono").props(
            f'data-testid="asset-ref" data-asset="{label.label}"')
    else:
        ui.label(label.label).classes("leoflow-mono text-grey-8").props(
            f'data-testid="asset-ref" data-asset="{label.label}"').tooltip(
            "No asset of this name yet (an alias resolves when a task adds an asset "
            "through it; Asset.ref when a DAG defines the asset)")


def event_source(event: EventView) -> None:
    """Where an event came from: a link to its source run in the IDE."""
    if event.source_dag_id and event.source_run_id:
        ui.link(event.source, run_url(event.source_dag_id, event.source_run_id)).classes(
            "leoflow-mono").style("overflow-wrap: anywhere").props(
            'data-testid="event-source"')
    else:
        ui.label(event.source).classes("text-grey-8").props('data-testid="event-source"')


def run_chip(run: RunLink) -> None:
    """A run an event started, in its state colour, linking to it."""
    with ui.link(target=run_url(run.dag_id, run.run_id)).classes("no-underline").props(
            f'data-testid="event-run" data-run="{run.run_id}" data-dag="{run.dag_id}"'):
        ui.badge(f"{run.dag_id}/{run.run_id}").style(
            f"background:{state_color(run.state)} !important;"
            f"color:{text_color(run.state)} !important;white-space:normal;"
            "overflow-wrap:anywhere;text-align:left;line-height:1.5").classes(
            "leoflow-mono").tooltip(f"{run.run_type} · {run.state}")


class DagAssetsSection:
    """On a DAG's page: its condition, each asset seen (time, source run) or waiting, the
    assets its tasks produce and read; and for the selected run, the events that started
    it. Built with ``build``; the page calls ``show_run`` when another run is selected.
    Every load asks the page's ``Access`` first: a user who may no longer read the DAG
    (demoted, deleted, moved to another tenant) sees nothing of it."""

    def __init__(self, plane: Services, hub: EventHub, access: Access, dag_id: str) -> None:
        self.plane = plane
        self.hub = hub
        self.access = access
        self.dag_id = dag_id
        self.view: asset_reads.DagAssetsView | None = None
        self.run_id: str | None = None
        self.triggers: asset_reads.RunTriggers | None = None

    async def load(self) -> None:
        self.view, self.triggers = None, None
        try:
            tenant = (await self.access.dag(self.dag_id, READ)).tenant
        except AccessDenied:
            return
        self.view = await asset_reads.dag_assets(self.plane, tenant, self.dag_id)
        # no run selected: the latest, as the graph shows it
        self.triggers = await asset_reads.run_triggers(self.plane, tenant, self.dag_id,
                                                       self.run_id)

    async def build(self, run_id: str | None) -> None:
        self.run_id = run_id
        await self.load()
        self.card()
        self.run_card()
        LiveRegion(self.hub, asset_reads.matches_assets, self.refresh)

    async def show_run(self, run_id: str | None) -> None:
        self.run_id = run_id
        await self.load()
        self.run_card.refresh()

    async def refresh(self) -> None:
        await self.load()
        self.card.refresh()
        self.run_card.refresh()

    @ui.refreshable_method
    def card(self) -> None:
        view = self.view
        if view is None or view.empty:
            return
        with ui.card().classes("w-full q-py-sm").props(
                'flat bordered data-testid="dag-assets"'), ui.grid(
                columns="auto auto minmax(0, 1fr)").classes(
                "w-full items-start gap-x-2 gap-y-2"):
            if view.expression is not None:
                self.heading("input", "Consumes")
                self.consumes(view)
            if view.produces:
                self.heading("output", "Produces")
                self.produces(view)
            reading = [t for t in view.tasks if t.inlets]
            if reading:
                self.heading("menu_book", "Reads")
                with ui.row().classes("items-center gap-x-4 gap-y-1"):
                    for task in reading:
                        with ui.row().classes("items-center gap-1"):
                            ui.label(f"{task.task_id}:").classes("leoflow-mono text-body2")
                            for label in task.inlets:
                                asset_label(label)

    @staticmethod
    def heading(icon: str, text: str) -> None:
        ui.icon(icon, size="xs").classes("text-grey-7 q-mt-xs")
        ui.label(text).classes("text-caption text-grey-7 q-mt-xs")

    def consumes(self, view: asset_reads.DagAssetsView) -> None:
        with ui.column().classes("gap-1 min-w-0"):
            with ui.row().classes("items-center gap-2"):
                ui.label(view.expression or "").classes("leoflow-mono text-body1").props(
                    'data-testid="dag-consumes"')
                if view.also_timetable:
                    ui.label("or on its timetable").classes("text-caption text-grey-7")
            with ui.row().classes("items-center gap-2"):
                for leaf in view.leaves:
                    self.leaf(leaf)
            if view.is_paused:
                ui.label("Paused: a paused DAG queues no event (Airflow's rule); unpause it "
                         "to wait for its assets.").classes("text-caption text-warning")

    def leaf(self, leaf: LeafView) -> None:
        seen = leaf.seen[-1] if leaf.seen else None
        color = SEEN_COLOR if seen else WAITING_COLOR
        with ui.row().classes("items-center gap-1 rounded-borders q-px-sm min-w-0").style(
                f"border:1px solid {color}").props(
                f'data-testid="asset-leaf" data-asset="{leaf.ref.label}" '
                f'data-seen="{"true" if seen else "false"}"'):
            asset_label(leaf.ref)
            if seen is None:
                ui.icon("hourglass_empty", size="xs").style(f"color:{color}")
                ui.label("waiting").classes("text-caption text-grey-8")
                return
            ui.icon("check", size="xs").style(f"color:{color}")
            ui.label(short_time(seen.timestamp)).classes("text-caption").tooltip(
                format_time(seen.timestamp))
            ui.label("from").classes("text-caption text-grey-7")
            event_source(seen)
            if len(leaf.seen) > 1:
                ui.label(f"({len(leaf.seen)} events)").classes("text-caption text-grey-7")

    def produces(self, view: asset_reads.DagAssetsView) -> None:
        with ui.row().classes("items-center gap-x-4 gap-y-1").props(
                'data-testid="dag-produces"'):
            for task in view.produces:
                with ui.row().classes("items-center gap-1").props(
                        f'data-testid="produces-task" data-task="{task.task_id}"'):
                    ui.label(f"{task.task_id} →").classes("leoflow-mono text-body2")
                    for label in task.outlets:
                        asset_label(label)

    @ui.refreshable_method
    def run_card(self) -> None:
        triggers = self.triggers
        if triggers is None or not triggers.events:
            return
        with ui.card().classes("w-full gap-1 q-py-sm").props(
                'flat bordered data-testid="run-triggers"'):
            with ui.row().classes("items-center gap-2"):
                ui.icon("bolt", size="xs").classes("text-amber-9")
                ui.label("Run").classes("text-caption text-grey-7")
                ui.label(triggers.run_id).classes("leoflow-mono text-body2")
                ui.label("was started by these asset events:").classes("text-caption "
                                                                       "text-grey-7")
            for event in triggers.events:
                with ui.row().classes("items-center gap-2 q-pl-lg").props(
                        f'data-testid="run-trigger-event" data-event-id="{event.id}"'):
                    ui.link(event.asset_name, asset_url(event.asset_id)).classes(
                        "leoflow-mono")
                    ui.label(format_time(event.timestamp)).classes("text-caption")
                    ui.label("from").classes("text-caption text-grey-7")
                    event_source(event)
                    if event.partition_key is not None:
                        ui.label(f"partition {event.partition_key}").classes(
                            "text-caption leoflow-mono")
                    if event.extra:
                        ui.label(extra_text(event.extra)).classes(
                            "text-caption leoflow-mono text-grey-8")
