"""The Trigger dialog: a form generated from the DAG's params, a conf JSON field, and
"unpause" for a paused DAG (a paused DAG's runs would wait). Opening it needs the DAG to
be the user's tenant's, and the Trigger button asks ``Access`` again (EDIT_RUNS) at the
moment it is pressed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from leoflow.engine.auth.permissions import EDIT_RUNS, READ
from leoflow.errors import LeoflowError
from leoflow.ide import queries
from leoflow.ide.access import Access
from leoflow.ide.events import EventHub
from leoflow.ide.layout import notifier, transient_dialog
from leoflow.ide.params_form import ParamField, build_conf, param_fields
from leoflow.ide.services import IdeServices


def _input_for(field: ParamField) -> ui.element:
    hint = field.description or ""
    initial = field.initial()
    if field.kind in ("integer", "number"):
        # no min/max on the input: it would clamp 100 to 64 silently; the bounds are shown
        # and checked when the form is sent (params_form.check_bounds names the real one)
        label = f"{field.label} ({field.bounds})" if field.bounds else field.label
        element: ui.element = ui.number(
            label, value=initial, precision=0 if field.kind == "integer" else None)
    elif field.kind == "boolean":
        element = ui.switch(field.label, value=bool(initial))
    elif field.kind == "enum":
        element = ui.select(list(field.options), label=field.label, value=initial)
    elif field.kind == "string":
        element = ui.input(field.label, value=initial or "")
    else:
        element = ui.textarea(field.label, value=initial or "").props("autogrow").classes(
            "leoflow-mono")
    element.classes("w-full").props(f'data-param="{field.name}"')
    if hint and field.kind != "boolean":
        element.props(f'hint="{hint}"')
    return element


async def open_trigger_dialog(services: IdeServices, hub: EventHub, access: Access,
                              dag_id: str, *,
                              on_triggered: Callable[[str], Awaitable[None] | None] | None = None
                              ) -> None:
    plane = services.require_plane()
    notify = notifier()
    try:
        principal = await access.dag(dag_id, READ)
    except LeoflowError as exc:
        ui.notify(str(exc), type="negative")
        return
    detail = await queries.dag_detail(plane, dag_id, tenant=principal.tenant, grid_runs=0)
    if detail is None or detail.spec is None:
        ui.notify(f"DAG {dag_id} has no registered version yet", type="warning")
        return
    fields = param_fields(detail.spec.params)
    with transient_dialog() as dialog, ui.card().classes("w-[32rem] max-w-full"):
        ui.label(f"Trigger {dag_id}").classes("text-h6")
        inputs: dict[str, ui.element] = {}
        if fields:
            ui.label("Params").classes("text-subtitle2")
            for field in fields:
                inputs[field.name] = _input_for(field)
        conf = ui.textarea("conf (JSON object)", value="{}").props(
            'autogrow data-testid="trigger-conf"').classes("w-full leoflow-mono")
        unpause = None
        if detail.dag.is_paused:
            unpause = ui.checkbox("Unpause the DAG (a paused DAG's runs wait)", value=True)
        error = ui.label().classes("text-negative").props('data-testid="trigger-error"')

        async def trigger() -> None:
            error.text = ""
            try:
                values = {name: getattr(el, "value", None) for name, el in inputs.items()}
                run_conf = build_conf(fields, values, conf.value)
                principal = await access.dag(dag_id, EDIT_RUNS)
                if unpause is not None and unpause.value:
                    await plane.operations.set_paused(dag_id, False, user=principal.username)
                    hub.publish("dag.changed", {"dag_id": dag_id})
                run = await plane.operations.trigger_run(
                    dag_id, conf=run_conf, user=principal.username, triggered_by="ui",
                    allow_paused=True)
            except LeoflowError as exc:
                error.text = str(exc)
                return
            dialog.close()
            notify(f"Triggered {run.run_id} of {dag_id}", type="positive")
            if on_triggered is not None:
                result = on_triggered(run.run_id)
                if result is not None:
                    await result

        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Trigger", icon="play_arrow", on_click=trigger).props(
                'color=primary data-testid="trigger-submit"')
    dialog.open()
