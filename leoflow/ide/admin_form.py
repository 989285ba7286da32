"""The create/edit dialog of the admin pages (variables, connections, pools): a form whose
save calls a service; a refusal that names a field (``ServiceError.field``) is shown under
that field, any other under the form, and the dialog stays open with what was typed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from leoflow.errors import LeoflowError
from leoflow.ide.view_kit import page_notifier


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, textarea, number, password
    value: Any = None
    hint: str = ""
    readonly: bool = False
    required: bool = False
    # values offered under a text field, each (value, tooltip): a click fills the field
    choices: tuple[tuple[str, str], ...] = ()
    # called with the field's value and every input of the form, at once and on each change
    # (the connection form relabels and hides fields by connection type)
    on_change: Callable[[Any, dict[str, Any]], None] | None = None


Save = Callable[[dict[str, Any]], Awaitable[str]]  # the values → what was done


async def open_form(title: str, fields: Sequence[Field], save: Save, *,
                    testid: str = "admin-form") -> str | None:
    """Show the form until it is saved (what was done) or cancelled (None)."""
    notify = page_notifier()
    inputs: dict[str, Any] = {}
    with ui.dialog() as dialog, ui.card().classes("w-[34rem] max-w-full gap-2").props(
            f'data-testid="{testid}"'):
        ui.label(title).classes("text-h6")
        for field in fields:
            element: Any
            if field.kind == "textarea":
                element = ui.textarea(field.label, value=field.value or "").props(
                    "autogrow outlined").classes("leoflow-mono")
            elif field.kind == "number":
                element = ui.number(field.label, value=field.value, precision=0).props(
                    "outlined")
            elif field.kind == "password":
                element = ui.input(field.label, value="", password=True,
                                   password_toggle_button=True).props("outlined")
            else:
                element = ui.input(field.label, value=field.value or "").props("outlined")
            element.classes("w-full").props(f'dense data-field="{field.name}"')
            if field.hint:
                element.props(f'hint="{field.hint}"')
            if field.readonly:
                element.props("readonly")
            inputs[field.name] = element
            if field.choices and not field.readonly:
                _choices(field, element)
        for field in fields:
            if field.on_change is not None:
                _watch(field, inputs)
        problem = ui.label("").classes("text-negative text-body2").props(
            f'data-testid="{testid}-error"')

        async def submit() -> None:
            for element in inputs.values():
                element.error = None
            problem.text = ""
            values = {name: element.value for name, element in inputs.items()}
            missing = [f for f in fields if f.required and values.get(f.name) in (None, "")]
            for field in missing:
                inputs[field.name].error = f"{field.label} is required"
            if missing:
                return
            try:
                done = await save(values)
            except LeoflowError as exc:
                message = getattr(exc, "message", None) or str(exc)
                name = getattr(exc, "field", None)
                if name in inputs:
                    inputs[name].error = message
                else:
                    problem.text = message
                return
            notify(done, type="positive")
            dialog.submit(done)

        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props(
                f'flat data-testid="{testid}-cancel"')
            ui.button("Save", icon="save", on_click=submit).props(
                f'color=primary data-testid="{testid}-save"')
    try:
        saved = await dialog
    finally:
        if not dialog.is_deleted:
            dialog.delete()
    return saved if isinstance(saved, str) else None


def _choices(field: Field, element: Any) -> None:
    """A row of small buttons under ``element``, one per offered value."""
    with ui.row().classes("w-full gap-1 max-h-24 overflow-auto").props(
            f'data-testid="{field.name}-choices"'):
        for value, tooltip in field.choices:
            button = ui.button(value, on_click=lambda _e, v=value: element.set_value(v))
            button.props(f'flat dense no-caps size=sm data-choice="{value}"')
            if tooltip:
                button.tooltip(tooltip)


def _watch(field: Field, inputs: dict[str, Any]) -> None:
    react = field.on_change
    if react is None:
        return
    element = inputs[field.name]
    element.on_value_change(lambda event: react(event.value, inputs))
    react(element.value, inputs)
