"""The frame of the admin pages (variables, connections, pools): a title with an Add
button, a table with Edit and Delete on each row, a line saying what the last action did.

A page subclass says how to read its rows and how to add, edit and delete one; the buttons
are disabled for a role that may not change them, and every action asks ``Access`` again
when it is pressed (a page open before a demotion cannot act).
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import Request
from nicegui import ui

from leoflow.engine.auth.permissions import MANAGE_RESOURCES, Principal
from leoflow.engine.auth.secrets import SecretsService
from leoflow.errors import LeoflowError
from leoflow.ide import session
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.layout import frame
from leoflow.ide.services import IdeServices
from leoflow.ide.view_kit import ResultLine, confirm, page_notifier, title_row


def secrets_of(services: IdeServices) -> SecretsService:
    """The engine's variables and connections service (part of the auth service)."""
    secrets = getattr(services.auth, "secrets", None)
    if not isinstance(secrets, SecretsService):
        raise AccessDenied("the IDE is still starting; try again in a moment")
    return secrets


class AdminPage:
    noun: ClassVar[str] = "item"
    title: ClassVar[str] = ""
    subtitle: ClassVar[str] = ""
    testid: ClassVar[str] = "admin"

    def __init__(self, services: IdeServices, access: Access) -> None:
        self.services = services
        self.access = access
        self.result: ResultLine | None = None

    # -- what a page says ------------------------------------------------------------------
    async def rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def columns(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def add(self) -> None:
        raise NotImplementedError

    async def edit(self, row: dict[str, Any]) -> None:
        raise NotImplementedError

    async def remove(self, row: dict[str, Any]) -> str:
        raise NotImplementedError

    def may_change(self, principal: Principal) -> bool:
        from leoflow.engine.auth.permissions import role_allows

        return role_allows(principal.role, MANAGE_RESOURCES)

    # -- the page --------------------------------------------------------------------------
    @classmethod
    async def serve(cls, services: IdeServices, request: Request) -> Any:
        access = await session.page_access(services)
        if access is None:
            return session.login_redirect(request)
        with frame(services, access.principal, active="Admin"):
            page = cls(services, access)
            await page.build()
        return None

    async def build(self) -> None:
        self.editable = self.may_change(self.access.principal)
        with title_row(self.title, self.subtitle, testid=f"{self.testid}-title"):
            add = ui.button(f"Add {self.noun}", icon="add", on_click=self.add).props(
                f'color=primary no-caps data-testid="{self.testid}-add"')
            add.set_enabled(self.editable)
            if not self.editable:
                add.tooltip(f"{self.access.principal.role} may read {self.noun}s here, "
                            "not change them")
        self.result = ResultLine(f"{self.testid}-result")
        await self.table()

    @ui.refreshable_method
    async def table(self) -> None:
        try:
            rows = await self.rows()
        except LeoflowError as exc:
            ui.label(str(exc)).classes("text-negative")
            return
        columns = [*self.columns(), {"name": "actions", "label": "", "field": "id",
                                     "align": "right"}]
        table = ui.table(rows=rows, columns=columns, row_key="id", pagination=50).classes(
            "w-full").props(f'dense flat data-testid="{self.testid}-table"')
        disabled = "" if self.editable else " disable"
        table.add_slot("body-cell-actions", f"""
            <q-td :props="props" class="text-right">
              <q-btn flat dense size="sm" icon="edit" data-testid="{self.testid}-edit"
                {disabled} @click="$parent.$emit('edit', props.row)"><q-tooltip>Edit
                </q-tooltip></q-btn>
              <q-btn flat dense size="sm" icon="delete" color="negative"
                data-testid="{self.testid}-delete" {disabled}
                @click="$parent.$emit('remove', props.row)"><q-tooltip>Delete</q-tooltip>
              </q-btn></q-td>""")
        table.on("edit", lambda e: self.edit(e.args))
        table.on("remove", lambda e: self.ask_remove(e.args))
        if not rows:
            ui.label(f"No {self.noun}s yet.").classes("text-grey-7").props(
                f'data-testid="{self.testid}-empty"')

    async def ask_remove(self, row: dict[str, Any]) -> None:
        notify = page_notifier()
        name = str(row.get("id"))
        if not await confirm(f"Delete {self.noun} {name}?", "This cannot be undone.",
                             "Delete", danger=True, testid=f"{self.testid}-confirm"):
            return
        try:
            done = await self.remove(row)
        except LeoflowError as exc:
            message = getattr(exc, "message", None) or str(exc)
            notify(message, type="negative")
            self.say(message, ok=False)
            return
        notify(done, type="positive")
        self.say(done)
        await self.refresh()

    async def saved(self, done: str | None) -> None:
        """After a form: say what it did and show the change (nothing when cancelled)."""
        if done is not None:
            self.say(done)
            await self.refresh()

    def say(self, text: str, *, ok: bool = True) -> None:
        if self.result is not None:
            self.result.show(text, ok=ok)

    async def refresh(self) -> None:
        await self.table.refresh()
