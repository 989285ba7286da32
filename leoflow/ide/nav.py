"""The header's Admin menu (variables, connections, pools, the audit log) and its "?"
button, which lists the keyboard shortcuts (``shortcuts``) that every page listens for."""

from __future__ import annotations

from nicegui import ui

from leoflow.ide import shortcuts

ADMIN_PAGES = (("Variables", "/admin/variables", "data_object"),
               ("Connections", "/admin/connections", "link"),
               ("Pools", "/admin/pools", "view_module"),
               ("Audit log", "/audit", "receipt_long"))


def admin_menu(active: bool) -> None:
    with ui.button("Admin", icon="admin_panel_settings").props(
            "flat no-caps" + (" outline" if active else "") + ' data-testid="nav-admin"'
    ).classes("text-white"), ui.menu():
        for name, target, icon in ADMIN_PAGES:
            with ui.menu_item(on_click=lambda t=target: ui.navigate.to(t)).props(
                    f'data-testid="nav-{target.rsplit("/", 1)[-1]}"'), ui.row().classes(
                    "items-center gap-2 no-wrap"):
                ui.icon(icon, size="xs")
                ui.label(name)


def help_button() -> None:
    dialog = shortcuts.install()
    ui.button(icon="keyboard", on_click=dialog.open).props(
        'flat round dense data-testid="shortcuts-button"').classes("text-white").tooltip(
        "Keyboard shortcuts (?)")
