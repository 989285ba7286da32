"""The login page (the only page open to everyone) and ``/``, which leads to the DAGs."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui

from leoflow.errors import LeoflowError
from leoflow.ide import session
from leoflow.ide.layout import DARK
from leoflow.ide.services import IdeServices
from leoflow.ide.theme import GLOBAL_CSS


def register(services: IdeServices) -> None:
    @ui.page("/", title="Leoflow Lite")
    async def index(request: Request) -> Any:
        if await session.principal_or_none(services) is None:
            return session.login_redirect(request)
        return RedirectResponse("/dags", status_code=303)

    @ui.page("/login", title="Log in · Leoflow Lite")
    async def login_page(request: Request,
                         next_path: str | None = Query(None, alias="next")) -> Any:
        target = session.safe_next(next_path)
        client = request.client.host if request.client else "ide"
        if await session.principal_or_none(services) is not None:
            return RedirectResponse(target, status_code=303)
        ui.add_css(GLOBAL_CSS)
        dark = bool(app.storage.user.get(DARK, False))
        ui.dark_mode(dark)  # as the browser left it
        with ui.card().classes("absolute-center w-96 gap-3").props('data-testid="login-card"'):
            with ui.row().classes("items-center gap-2"):
                # Quasar's colour classes are !important: pick one that reads on the card
                ui.icon("air", size="md", color="indigo-3" if dark else "indigo-9")
                ui.label("Leoflow").classes("text-h5")
                if services.lite_badge:
                    ui.badge("LITE", color="amber-7", text_color="black").classes(
                        "leoflow-lite-badge")
            ui.label("Log in to your workspace").classes("text-body2 text-grey-7")
            username = ui.input("Username").classes("w-full").props(
                'autocomplete=username autofocus data-testid="login-username"')
            password = ui.input("Password", password=True, password_toggle_button=True).classes(
                "w-full").props('autocomplete=current-password data-testid="login-password"')
            error = ui.label().classes("text-negative").props('data-testid="login-error"')

            async def submit() -> None:
                error.text = ""
                if not username.value or not password.value:
                    error.text = "Enter your username and password"
                    return
                try:
                    await session.log_in(services, username.value.strip(), password.value,
                                         client=client)
                except LeoflowError as exc:
                    error.text = str(exc)
                    password.value = ""
                    return
                ui.navigate.to(target)

            password.on("keydown.enter", submit)
            username.on("keydown.enter", submit)
            ui.button("Log in", on_click=submit).classes("w-full").props(
                'color=primary data-testid="login-submit"')
            # HTML, not ui.markdown: markdown2 and pygments stay off the first page's path
            ui.html("The password of <strong>admin</strong> was printed when Leoflow Lite "
                    "first started; <code>leoflow lite reset-password</code> prints a new "
                    "one.").classes("text-caption text-grey-7").props(
                'data-testid="login-hint"')
        return None
