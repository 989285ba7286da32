"""The audit log (``/audit``): every event the tenant may see (``engine.auth.events``: its
DAGs' events, its users' changes, the system's own), newest first, filtered by DAG, event
and user, 100 a page. New events appear as runs and actions happen (push).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from nicegui import ui

from leoflow.engine.auth import events
from leoflow.engine.auth.permissions import READ
from leoflow.engine.services.reads import read
from leoflow.errors import LeoflowError
from leoflow.ide import session
from leoflow.ide.access import Access
from leoflow.ide.events import EventHub, LiveRegion, any_dag
from leoflow.ide.layout import format_time, frame
from leoflow.ide.services import IdeServices
from leoflow.ide.view_kit import columns, title_row

PAGE_SIZE = 100


class AuditPage:
    def __init__(self, services: IdeServices, access: Access) -> None:
        self.services = services
        self.access = access
        self.values: dict[str, str] = {}
        self.page = 0

    async def build(self) -> None:
        title_row("Audit log", "who did what, and when")
        with ui.row().classes("w-full items-end gap-3"):
            for key, label in (("dag_id", "DAG"), ("event", "Event"), ("owner", "User")):
                ui.input(label, on_change=lambda e, k=key: self.set(k, e.value)).classes(
                    "w-48").props(f'dense outlined clearable debounce=300 '
                                  f'data-testid="audit-filter-{key}"')
        await self.table()

    async def set(self, key: str, value: str | None) -> None:
        self.values[key] = (value or "").strip()
        self.page = 0
        await self.table.refresh()

    async def refresh(self) -> None:
        await self.table.refresh()

    @ui.refreshable_method
    async def table(self) -> None:
        try:
            principal = await self.access.check(READ)
        except LeoflowError as exc:
            ui.label(str(exc)).classes("text-negative")
            return
        filters = {k: v for k, v in self.values.items() if v}
        found = await read(self.services.require_plane().store, events.list_visible_events,
                           principal.tenant, dag_id=filters.get("dag_id"),
                           event=filters.get("event"), owner=filters.get("owner"),
                           limit=PAGE_SIZE, offset=self.page * PAGE_SIZE, order="-id")
        rows = [{"id": r.id, "when": format_time(r.occurred_at), "event": r.event,
                 "user": r.username or "-", "dag_id": r.dag_id or "", "run_id": r.run_id or "",
                 "task_id": r.task_id or "",
                 "extra": "" if r.extra is None else json.dumps(r.extra, sort_keys=True)}
                for r in found.items]
        cols = columns("when", "event", "user", "dag_id", "run_id", "task_id", "extra",
                       labels={"dag_id": "DAG", "run_id": "Run", "task_id": "Task"})
        for col in cols:
            col["style"] = "white-space: nowrap"
        table = ui.table(rows=rows, columns=cols, row_key="id").classes("w-full").props(
            'dense flat data-testid="audit-table"')
        table.add_slot("body-cell-extra", """
            <q-td :props="props"><div class="leoflow-mono text-caption ellipsis"
              style="max-width: 26rem" :title="props.value">{{ props.value }}</div></q-td>""")
        with ui.row().classes("w-full items-center"):
            first = self.page * PAGE_SIZE
            ui.label(f"{first + 1 if rows else 0}-{first + len(rows)} of {found.total} events"
                     ).classes("text-caption text-grey-7").props('data-testid="audit-count"')
            ui.space()
            ui.button(icon="chevron_left", on_click=lambda: self.turn(-1)).props(
                "flat dense").set_enabled(self.page > 0)
            ui.button(icon="chevron_right", on_click=lambda: self.turn(1)).props(
                "flat dense").set_enabled(first + len(rows) < found.total)

    async def turn(self, step: int) -> None:
        self.page = max(0, self.page + step)
        await self.table.refresh()


def register(services: IdeServices, hub: EventHub) -> None:
    @ui.page("/audit", title="Audit log · Leoflow Lite")
    async def audit_page(request: Request) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="Admin"):
            page = AuditPage(services, access)
            await page.build()
            LiveRegion(hub, any_dag, page.refresh, delay=0.5)
        return None
