"""The DAG page's grid, as Airflow's: one column per run (its header: a duration bar in the
run's state colour, its run type and its date), one row per task in dependency order, task
groups as collapsible rows (their cells: the most telling state of their members) and
mapped tasks expandable into one row per map index.

It draws ``DagDetail.grid`` (``engine.services.dag_views``) and reads the mapped instances
of an expanded task through ``engine.services.run_pages``; the page refreshes it by push.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from nicegui import ui

from leoflow.engine.auth.permissions import READ
from leoflow.engine.services import run_pages
from leoflow.engine.services.dag_views import DagDetail
from leoflow.engine.services.run_views import RunBrief
from leoflow.ide import grid as layout_rows
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.layout import format_duration
from leoflow.ide.services import IdeServices
from leoflow.ide.theme import square_style, state_color
from leoflow.ide.urls import run_url

RUN_TYPE_ICONS = {"manual": "play_arrow", "scheduled": "schedule", "backfill": "history",
                  "asset_triggered": "inventory_2"}
BAR_MAX = 44  # px: the longest run's bar
OnCell = Callable[..., Awaitable[None]]


def run_date(run: RunBrief) -> str:
    moment: datetime = run.start_date or run.run_after
    return moment.strftime("%m-%d %H:%M")


class GridView:
    def __init__(self, services: IdeServices, access: Access, dag_id: str, *,
                 on_cell: OnCell, on_run: Callable[[str], Awaitable[None]]) -> None:
        self.services = services
        self.access = access
        self.dag_id = dag_id
        self.on_cell = on_cell
        self.on_run = on_run
        self.detail: DagDetail | None = None
        self.selected_run: str | None = None
        self.collapsed: set[str] = set()
        self.expanded: dict[str, dict[str, tuple[tuple[int, str | None], ...]]] = {}
        self._states: dict[str, dict[str, str | None]] = {}
        attach()
        with ui.row().classes("items-center gap-1"):
            ui.label("Groups:").classes("text-caption text-grey-7")
            ui.button("Expand all", icon="unfold_more", on_click=self.expand_all).props(
                'flat dense no-caps padding="2px 8px" data-testid="grid-expand-all"'
            ).classes("text-body2")
            ui.button("Collapse all", icon="unfold_less", on_click=self.collapse_all).props(
                'flat dense no-caps padding="2px 8px" data-testid="grid-collapse-all"'
            ).classes("text-body2")
        self.box = ui.element("div").classes("w-full overflow-auto")

    async def show(self, detail: DagDetail | None, selected_run: str | None) -> None:
        self.detail = detail
        self.selected_run = selected_run
        await self._reload_mapped()
        self.draw()

    async def _reload_mapped(self) -> None:
        if not self.expanded or self.detail is None:
            return
        try:
            principal = await self.access.dag(self.dag_id, READ)
        except AccessDenied:
            self.expanded.clear()
            return
        plane = self.services.require_plane()
        run_ids = [r.run_id for r in self.detail.grid.runs]
        for task_id in list(self.expanded):
            self.expanded[task_id] = await run_pages.mapped_states(
                plane.store, self.dag_id, run_ids, task_id, tenant=principal.tenant)

    async def toggle_group(self, group: str) -> None:
        self.collapsed.symmetric_difference_update({group})
        self.draw()

    async def toggle_mapped(self, task_id: str) -> None:
        if task_id in self.expanded:
            del self.expanded[task_id]
        else:
            self.expanded[task_id] = {}
            await self._reload_mapped()
        self.draw()

    async def expand_all(self) -> None:
        self.collapsed.clear()
        self.draw()

    async def collapse_all(self) -> None:
        detail = self.detail
        self.collapsed = set(layout_rows.all_groups(detail.spec if detail else None))
        self.draw()

    def draw(self) -> None:
        self.box.clear()
        detail = self.detail
        if detail is None:
            return
        grid = detail.grid
        with self.box:
            if not grid.runs:
                ui.label("No runs yet. Trigger one.").classes("text-grey-7").props(
                    'data-testid="grid-empty"')
            elif self.selected_run:
                with ui.row().classes("items-center gap-2 text-body2"):
                    ui.label("Selected run:").classes("text-grey-7")
                    ui.link(self.selected_run, run_url(self.dag_id, self.selected_run)
                            ).classes("leoflow-mono").props('data-testid="grid-open-run"')
            extra = [t for t in grid.task_ids
                     if detail.spec is None or t not in detail.spec.task_ids]
            rows = layout_rows.rows(detail.spec, extra, self.collapsed)
            self._states = {}
            for (run_id, task_id), state in grid.cells.items():
                self._states.setdefault(run_id, {})[task_id] = state
            with ui.element("table").classes("leoflow-grid").props('data-testid="dag-grid"'):
                self._header(grid.runs)
                for row in rows:
                    self._row(row)
                    if row.mapped and row.key in self.expanded:
                        self._mapped_rows(row)

    def _header(self, runs: tuple[RunBrief, ...]) -> None:
        longest = max((r.duration or 0.0 for r in runs), default=0.0) or 1.0
        with ui.element("tr"):
            with ui.element("th").classes("text-left align-bottom"):
                ui.label("Task / run").classes("text-caption text-grey-7")
            for run in runs:
                selected = run.run_id == self.selected_run
                with ui.element("th").classes("align-bottom leoflow-run-head" + (
                        " leoflow-run-selected" if selected else "")):
                    height = 6 + int(BAR_MAX * (run.duration or 0.0) / longest)
                    bar = ui.element("div").classes("leoflow-square leoflow-run-bar").style(
                        f"height:{height}px;background:{state_color(run.state)};")
                    bar.props(f'data-run="{run.run_id}" data-state="{run.state}" '
                              'data-testid="grid-run-bar"')
                    bar.tooltip(f"{run.run_id}\n{run.state} · {run.run_type} · "
                                f"{format_duration(run.duration)}")
                    bar.on("click", lambda _e, r=run.run_id: self.on_run(r))
                    ui.icon(RUN_TYPE_ICONS.get(run.run_type, "help_outline"),
                            size="12px").classes("text-grey-7").tooltip(run.run_type)
                    ui.label(run_date(run)).classes("leoflow-run-date")

    def _row(self, row: layout_rows.Row) -> None:
        detail = self.detail
        if detail is None:
            return
        grid = detail.grid
        with ui.element("tr").props(f'data-row="{row.key}"'):
            with ui.element("td").classes("leoflow-grid-label").style(
                    f"padding-left:{4 + 14 * row.depth}px"):
                if row.is_group:
                    open_ = row.key not in self.collapsed
                    ui.button(row.label, icon="expand_more" if open_ else "chevron_right",
                              color=None,
                              on_click=lambda _e, g=row.key: self.toggle_group(g)).props(
                        'flat dense no-caps size=sm padding="0 4px 0 0" '
                        f'data-testid="grid-group" data-group="{row.key}"').classes(
                        "leoflow-mono leoflow-grid-toggle text-weight-bold").tooltip(
                        f"task group {row.key}: {len(row.members)} tasks")
                elif row.mapped:
                    open_ = row.key in self.expanded
                    ui.button(f"{row.label} [ ]",
                              icon="expand_more" if open_ else "chevron_right", color=None,
                              on_click=lambda _e, t=row.key: self.toggle_mapped(t)).props(
                        'flat dense no-caps size=sm padding="0 4px 0 0" '
                        f'data-testid="grid-mapped" data-task="{row.key}"').classes(
                        "leoflow-mono leoflow-grid-toggle").tooltip("mapped: show each instance")
                else:
                    ui.label(row.label).classes("text-caption leoflow-mono").tooltip(row.key)
            for run in grid.runs:
                states = self._states.get(run.run_id, {})
                with ui.element("td").classes(
                        "leoflow-run-selected" if run.run_id == self.selected_run else ""):
                    if row.is_group:
                        if not any(m in states for m in row.members):
                            continue
                        state = layout_rows.group_state(row.members, states)
                        cell = ui.element("span").style(square_style(state)).classes(
                            "leoflow-square leoflow-group-cell")
                        cell.props(f'data-run="{run.run_id}" data-group="{row.key}" '
                                   f'data-state="{state or "none"}"')
                        cell.tooltip(f"group {row.key} · {state or 'no status'}")
                        cell.on("click", lambda _e, g=row.key: self.toggle_group(g))
                        continue
                    if row.key not in states:
                        continue
                    self._cell(run.run_id, row.key, states[row.key], -1)

    def _cell(self, run_id: str, task_id: str, state: str | None, map_index: int) -> None:
        grid = self.detail.grid if self.detail else None
        cell = ui.element("span").style(square_style(state)).classes("leoflow-square")
        cell.props(f'data-run="{run_id}" data-task="{task_id}" data-map-index="{map_index}" '
                   f'data-state="{state or "none"}"')
        tip = f"{task_id}{f' [{map_index}]' if map_index >= 0 else ''} · {state or 'no status'}"
        if grid is not None and map_index < 0:
            count = grid.mapped_counts.get((run_id, task_id))
            waits = grid.waiting.get((run_id, task_id))
            tip += (f" · {count} mapped" if count else "") + (
                f" · waiting for {waits}" if waits else "")
        cell.tooltip(tip)
        cell.on("click", lambda _e: self.on_cell(task_id, run_id=run_id, map_index=map_index))

    def _mapped_rows(self, row: layout_rows.Row) -> None:
        detail = self.detail
        if detail is None:
            return
        by_run = self.expanded.get(row.key, {})
        indexes = sorted({i for found in by_run.values() for i, _ in found})
        if not indexes:
            with ui.element("tr"), ui.element("td").style(
                    f"padding-left:{18 + 14 * row.depth}px"):
                ui.label("no mapped instances yet").classes("text-caption text-grey-7")
            return
        for index in indexes:
            with ui.element("tr").props(f'data-row="{row.key}[{index}]"'):
                with ui.element("td").style(f"padding-left:{22 + 14 * row.depth}px"):
                    ui.label(f"[{index}]").classes("text-caption leoflow-mono text-grey-8")
                for run in detail.grid.runs:
                    states = dict(by_run.get(run.run_id, ()))
                    with ui.element("td"):
                        if index in states:
                            self._cell(run.run_id, row.key, states[index], index)


GRID_CSS = """
.leoflow-grid { border-collapse: separate; border-spacing: 0; }
.leoflow-grid td, .leoflow-grid th { padding: 1px 3px; text-align: center; }
.leoflow-grid td.leoflow-grid-label { text-align: left; white-space: nowrap; }
.leoflow-run-head { vertical-align: bottom; }
.leoflow-run-bar { width: 12px; border-radius: 3px; margin: 0 auto; }
.leoflow-run-date { writing-mode: vertical-rl; transform: rotate(180deg); font-size: 10px;
  font-weight: 400; color: #757575; margin: 2px auto 0; white-space: nowrap; }
.leoflow-run-selected { background: rgba(25, 118, 210, 0.12); }
.leoflow-grid-toggle { font-size: 12px; min-height: 0; }
.leoflow-grid-toggle .q-icon { font-size: 16px; margin-right: 2px; }
"""


def attach(_: Any = None) -> None:
    """Add the grid's styles to the page being built."""
    ui.add_css(GRID_CSS)
