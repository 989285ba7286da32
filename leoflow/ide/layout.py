"""The frame every page shares: the header (LITE badge, navigation, workspace path, dark
mode switch, user menu) and the page's content column."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nicegui import app, background_tasks, context, ui

from leoflow.engine.auth.permissions import Principal
from leoflow.ide import session
from leoflow.ide.nav import admin_menu, help_button
from leoflow.ide.services import IdeServices
from leoflow.ide.theme import GLOBAL_CSS

DARK = "dark"


def frame(services: IdeServices, principal: Principal, *, active: str = "") -> ui.column:
    """Draw the header; return the column the page fills (``with frame(...):``)."""
    ui.add_css(GLOBAL_CSS)
    dark = ui.dark_mode(app.storage.user.get(DARK, False))
    with ui.header(elevated=True).classes("items-center gap-4 px-4 py-2 bg-indigo-9"):
        with ui.link(target="/").classes("no-underline text-white flex items-center gap-2"):
            ui.icon("air", size="sm")
            ui.label("Leoflow").classes("text-h6")
        if services.lite_badge:
            ui.badge("LITE", color="amber-7", text_color="black").classes(
                "leoflow-lite-badge").props('aria-label="Leoflow Lite"')
        for name, target, icon in (("DAGs", "/dags", "account_tree"),
                                   ("Runs", "/runs", "history"),
                                   ("Assets", "/assets", "inventory_2"),
                                   ("Editor", "/editor", "code")):
            button = ui.button(name, icon=icon, on_click=lambda t=target: ui.navigate.to(t))
            button.props("flat no-caps" + (" outline" if active == name else "")).classes(
                "text-white")
        admin_menu(active == "Admin")
        ui.space()
        with ui.row().classes("items-center gap-1 text-white"):
            ui.icon("folder_open", size="xs")
            ui.label(display_path(services.workspace)).classes(
                "text-caption leoflow-mono").props('data-testid="workspace-path"').tooltip(
                "The workspace: your DAG projects")

        def toggle_dark(value: bool) -> None:
            dark.value = value
            app.storage.user[DARK] = value

        ui.switch("Dark", value=bool(dark.value),
                  on_change=lambda e: toggle_dark(bool(e.value))).props(
            'dense color="amber" keep-color').classes("text-white")
        help_button()
        with ui.button(principal.username, icon="account_circle").props(
                'flat no-caps data-testid="user-menu"').classes("text-white"), ui.menu():
            ui.menu_item(f"{principal.username} ({principal.role})").props("disable")
            ui.separator()
            ui.menu_item("Log out", on_click=lambda: _logout(services)).props(
                'data-testid="logout"')
    return ui.column().classes("w-full gap-3 p-2")


def display_path(path: Path) -> str:
    """``~/leoflow`` rather than ``/home/someone/leoflow``."""
    path = Path(path)
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):
        return str(path)


async def _logout(services: IdeServices) -> None:
    await session.log_out(services)
    ui.navigate.to("/login")


def state_badge(state: str | None) -> ui.badge:
    from leoflow.ide.theme import state_color, text_color

    badge = ui.badge(state or "no status").style(
        f"background:{state_color(state)} !important;color:{text_color(state)} !important")
    badge.props(f'data-state="{state or "none"}"')
    return badge


def format_time(moment: Any) -> str:
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


DIALOG_LINGER_SECONDS = 2.0  # a closed dialog's handlers may still be running


def transient_dialog() -> ui.dialog:
    """A dialog that removes itself from the page once closed (dialogs are made per use).

    The removal waits ``DIALOG_LINGER_SECONDS``: the handler that closed it usually goes on
    (notify, refresh, navigate), and a deleted dialog would take that handler's slot with
    it (NiceGUI: "The parent element this slot belongs to has been deleted")."""
    dialog = ui.dialog()

    async def remove_later() -> None:
        await asyncio.sleep(DIALOG_LINGER_SECONDS)
        if not dialog.is_deleted and not dialog.value and not dialog.client.is_deleted:
            dialog.delete()

    def closed(event: Any) -> None:
        if not event.value and not dialog.is_deleted:
            background_tasks.create(remove_later(), name="leoflow-ide-dialog-removal")

    dialog.on_value_change(closed)
    return dialog


Notify = Callable[..., None]


def notifier() -> Notify:
    """``ui.notify`` bound to the current page, callable after its caller's element is gone.

    Take it at the start of an action: an action that closes a dialog, refreshes a section
    or awaits a service may find its own element deleted by the time it reports, and
    ``ui.notify`` in a deleted element's slot raises instead of saying anything. A page the
    user has left is told nothing."""
    client = context.client

    def notify(message: Any, **options: Any) -> None:
        if client.is_deleted:
            return
        with client:
            ui.notify(message, **options)

    return notify


def preformatted(text: str) -> ui.label:
    """Text shown as it is (a traceback): ``ui.code`` would strip the first line's indent
    from every line."""
    return ui.label(text).classes("leoflow-mono w-full text-caption q-pa-sm rounded").style(
        "white-space: pre-wrap; background: rgba(127, 127, 127, 0.1)")
