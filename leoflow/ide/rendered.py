"""What a try actually ran: the command its agent executed after rendering the templates
(read from the try's own log, where the agent writes it before the task's output), beside
the task's arguments as written in dag.py. One section per try, newest first.
"""

from __future__ import annotations

from nicegui import ui

from leoflow.engine.auth.permissions import READ
from leoflow.engine.services import run_pages
from leoflow.engine.services.run_pages import RunDetail
from leoflow.errors import LeoflowError
from leoflow.ide.access import Access
from leoflow.ide.layout import preformatted
from leoflow.ide.services import IdeServices
from leoflow.ide.view_kit import page_notifier


async def open_rendered_dialog(services: IdeServices, access: Access, dag_id: str, run_id: str,
                               task_id: str, map_index: int, detail: RunDetail | None) -> None:
    notify = page_notifier()
    plane = services.require_plane()
    try:
        await access.dag(dag_id, READ)
    except LeoflowError as exc:
        notify(str(exc), type="negative")
        return
    spec = detail.spec if detail is not None else None
    numbers = sorted({b.try_number for b in (detail.bars if detail else ())
                      if b.task_id == task_id and b.map_index == map_index}, reverse=True)
    tries = [(n, await run_pages.rendered_try(plane.logs, spec, dag_id, run_id, task_id,
                                              map_index, n)) for n in numbers]
    templates = run_pages.templated_arguments(spec, task_id)
    name = task_id + (f" [{map_index}]" if map_index >= 0 else "")
    with ui.dialog() as dialog, ui.card().classes("w-[56rem] max-w-full gap-2").props(
            'data-testid="rendered-dialog"'):
        with ui.row().classes("w-full items-center"):
            ui.label(f"What {name} ran").classes("text-h6")
            ui.space()
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        if not tries:
            ui.label("No try has started yet.").classes("text-grey-7")
        for number, rendered in tries:
            ui.label(f"Try {number}").classes("text-subtitle2")
            if rendered.commands:
                for command in rendered.commands:
                    preformatted(command).props('data-testid="rendered-command"')
            else:
                ui.label("No command in this try's log (a Python task runs its callable; "
                         "its arguments are below).").classes("text-caption text-grey-7")
        ui.label("As written in dag.py").classes("text-subtitle2 q-mt-sm")
        if templates:
            for argument, text in templates:
                ui.label(argument).classes("text-caption text-grey-7 leoflow-mono")
                preformatted(text).props('data-testid="rendered-template"')
        else:
            ui.label("No templated arguments.").classes("text-caption text-grey-7")
    await dialog  # closed: the button, Escape or a click outside
    if not dialog.is_deleted:
        dialog.delete()
