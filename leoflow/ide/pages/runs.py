"""Every run of every DAG of the user's tenant (``/runs``), newest first, filtered by state,
DAG, run type and a date range (on the run's "run after"), 50 a page. A run opens its run
page. The filters live in the URL, so a filtered list can be bookmarked or shared; the list
follows runs as they start and end (push).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Query, Request
from nicegui import ui

from leoflow.engine.auth.permissions import READ
from leoflow.engine.services import run_pages
from leoflow.engine.services.run_pages import RUN_STATES, RUN_TYPES, RunFilters
from leoflow.errors import LeoflowError
from leoflow.ide import queries, session
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.events import EventHub, LiveRegion, any_dag
from leoflow.ide.layout import format_duration, format_time, frame
from leoflow.ide.services import IdeServices
from leoflow.ide.urls import run_url
from leoflow.ide.view_kit import ResultLine, columns, state_slot, title_row

PAGE_SIZE = 50


def parse_day(text: str | None, *, end: bool = False) -> datetime | None:
    """``2026-12-07`` → that day's first (or, with ``end``, last) moment in UTC."""
    if not text:
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise LeoflowError(f"{text!r} is not a date: write it as YYYY-MM-DD") from None
    return day.replace(hour=23, minute=59, second=59, microsecond=999999) if end else day


class RunsPage:
    def __init__(self, services: IdeServices, access: Access, filters: dict[str, Any]) -> None:
        self.services = services
        self.plane = services.require_plane()
        self.access = access
        self.values = filters
        self.page = 0

    def filters(self) -> RunFilters:
        v = self.values
        return RunFilters(states=tuple(v.get("state") or ()), dag_id=v.get("dag_id") or None,
                          run_types=tuple(v.get("run_type") or ()),
                          after=parse_day(v.get("after")),
                          before=parse_day(v.get("before"), end=True))

    async def build(self) -> None:
        principal = await self.access.check(READ)
        dag_ids = [d.dag_id for d in await queries.dag_summaries(self.plane,
                                                                   tenant=principal.tenant)]
        title_row("Runs", "every run of every DAG, newest first")
        with ui.row().classes("w-full items-end gap-3").props('data-testid="runs-filters"'):
            ui.select(list(RUN_STATES), multiple=True, label="State",
                      value=list(self.values.get("state") or []),
                      on_change=lambda e: self.set("state", e.value)).classes("w-56").props(
                'dense outlined clearable use-chips data-testid="runs-filter-state"')
            ui.select(dag_ids, label="DAG", value=self.values.get("dag_id") or None,
                      with_input=True, on_change=lambda e: self.set("dag_id", e.value)
                      ).classes("w-56").props('dense outlined clearable '
                                              'data-testid="runs-filter-dag"')
            ui.select(list(RUN_TYPES), multiple=True, label="Run type",
                      value=list(self.values.get("run_type") or []),
                      on_change=lambda e: self.set("run_type", e.value)).classes("w-56").props(
                'dense outlined clearable use-chips data-testid="runs-filter-type"')
            for key, label in (("after", "From (YYYY-MM-DD)"), ("before", "To (YYYY-MM-DD)")):
                ui.input(label, value=self.values.get(key) or "",
                         on_change=lambda e, k=key: self.set(k, e.value)).classes(
                    "w-44").props(f'dense outlined clearable data-testid="runs-filter-{key}"')
        self.error = ui.label("").classes("text-negative text-body2").props(
            'data-testid="runs-filter-error"')
        await self.table_view()

    async def set(self, key: str, value: Any) -> None:
        self.values[key] = value
        self.page = 0
        await self.refresh()
        query = {k: v for k, v in self.values.items() if v}
        ui.run_javascript(f"history.replaceState(null, '', '/runs?{urlencode(query, True)}')")

    async def refresh(self) -> None:
        await self.table_view.refresh()

    @ui.refreshable_method
    async def table_view(self) -> None:
        try:
            filters = self.filters()
            principal = await self.access.check(READ)
        except AccessDenied as exc:
            self.error.text = exc.message
            return
        except LeoflowError as exc:
            self.error.text = str(exc)
            return
        self.error.text = ""
        lines, total = await run_pages.runs_across(
            self.plane.store, tenant=principal.tenant, filters=filters, limit=PAGE_SIZE,
            offset=self.page * PAGE_SIZE)
        rows = [{"key": f"{r.dag_id}|{r.run_id}", "dag_id": r.dag_id, "run_id": r.run_id,
                 "state": r.state, "run_type": r.run_type, "run_after": format_time(r.run_after),
                 "started": format_time(r.start_date), "duration": format_duration(r.duration),
                 "version": f"v{r.version_number}" if r.version_number else "-",
                 "triggered_by": r.triggered_by or "-", "note": r.note or "",
                 "url": run_url(r.dag_id, r.run_id)} for r in lines]
        table = ui.table(rows=rows, columns=columns(
            "dag_id", "run_id", "state", "run_type", "run_after", "started", "duration",
            "version", "triggered_by", "note", labels={"dag_id": "DAG", "run_id": "Run"}),
            row_key="key").classes("w-full").props('dense flat data-testid="runs-table"')
        state_slot(table)
        table.add_slot("body-cell-run_id", """
            <q-td :props="props"><a :href="props.row.url" class="leoflow-mono text-primary"
              data-testid="runs-link">{{ props.value }}</a></q-td>""")
        table.add_slot("body-cell-dag_id", """
            <q-td :props="props"><a :href="'/dags/' + encodeURIComponent(props.value)"
              class="leoflow-mono text-primary">{{ props.value }}</a></q-td>""")
        with ui.row().classes("w-full items-center gap-2"):
            first = self.page * PAGE_SIZE
            ui.label(f"{first + 1 if lines else 0}-{first + len(lines)} of {total} runs"
                     ).classes("text-caption text-grey-7").props('data-testid="runs-count"')
            ui.space()
            ui.button(icon="chevron_left", on_click=lambda: self.turn(-1)).props(
                "flat dense").set_enabled(self.page > 0)
            ui.button(icon="chevron_right", on_click=lambda: self.turn(1)).props(
                "flat dense").set_enabled(first + len(lines) < total)

    async def turn(self, step: int) -> None:
        self.page = max(0, self.page + step)
        await self.refresh()


def register(services: IdeServices, hub: EventHub) -> None:
    @ui.page("/runs", title="Runs · Leoflow Lite")
    async def runs_page(request: Request, state: list[str] = Query([]),
                        dag_id: str | None = Query(None), run_type: list[str] = Query([]),
                        after: str | None = Query(None), before: str | None = Query(None),
                        deleted: str | None = Query(None)) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="Runs"):
            page = RunsPage(services, access, {"state": state, "dag_id": dag_id,
                                               "run_type": run_type, "after": after,
                                               "before": before})
            if deleted:
                ResultLine("run-action-result").show(f"Run {deleted} deleted")
            await page.build()
            LiveRegion(hub, any_dag, page.refresh, delay=0.3)
        return None
