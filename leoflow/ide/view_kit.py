"""Small pieces the run and admin pages share: a confirmation that is awaited (the action
goes on in the page's own slot, not the dialog's), a notifier bound to the page, a visible
result line, the page title row, and a table of rows with state badges.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from nicegui import context, ui

from leoflow.ide.theme import STATE_COLORS

Notify = Callable[..., None]


def page_notifier() -> Notify:
    """``ui.notify`` bound to the current page (callable after the element that asked is
    gone; a page the user has left is told nothing)."""
    client = context.client

    def notify(message: Any, **options: Any) -> None:
        if not client.is_deleted:
            with client:
                ui.notify(message, **options)

    return notify


async def confirm(title: str, text: str, action: str, *, danger: bool = False,
                  testid: str = "confirm") -> bool:
    """Ask; True when the user pressed ``action``. The dialog is gone when this returns."""
    with ui.dialog() as dialog, ui.card().classes("w-[28rem] max-w-full gap-3"):
        ui.label(title).classes("text-h6")
        ui.label(text).classes("text-body2")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props(
                f'flat data-testid="{testid}-cancel"')
            ui.button(action, on_click=lambda: dialog.submit(True)).props(
                f'color={"negative" if danger else "primary"} data-testid="{testid}-ok"')
    try:
        answer = await dialog
    finally:
        if not dialog.is_deleted:
            dialog.delete()
    return bool(answer)


class ResultLine:
    """A line that says what the last action did (beside the notification, which fades)."""

    def __init__(self, testid: str = "action-result") -> None:
        self.label = ui.label("").classes("text-body2").props(f'data-testid="{testid}"')
        self.label.set_visibility(False)

    def show(self, text: str, *, ok: bool = True) -> None:
        if self.label.is_deleted:
            return
        self.label.text = text
        self.label.classes(replace="text-body2 " + ("text-positive" if ok else "text-negative"))
        self.label.set_visibility(True)


def title_row(title: str, subtitle: str = "", *, testid: str = "page-title") -> ui.row:
    """The page's heading; what ``with`` adds goes on its right."""
    row = ui.row().classes("w-full items-center gap-3")
    with row:
        ui.label(title).classes("text-h5").props(f'data-testid="{testid}"')
        if subtitle:
            ui.label(subtitle).classes("text-body2 text-grey-7")
        ui.space()
    return row


def state_slot(table: ui.table, column: str = "state") -> None:
    """Show ``column`` of ``table`` as a badge in Airflow's state colour."""
    colors = json.dumps(STATE_COLORS).replace('"', "'")
    table.add_slot(f"body-cell-{column}", f"""
        <q-td :props="props"><q-badge :label="props.value || 'no status'"
          :text-color="['failed','success','queued','deferred'].includes(props.value)
                       ? 'white' : 'black'"
          :style="'background:' + ({colors}[props.value] || '#e0e0e0')"/></q-td>""")


def columns(*names: str, labels: dict[str, str] | None = None,
            sortable: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Quasar table columns named after their fields."""
    labels = labels or {}
    return [{"name": n, "label": labels.get(n, n.replace("_", " ").capitalize()), "field": n,
             "align": "left", "sortable": n in sortable} for n in names]
