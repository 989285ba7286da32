"""Human-in-the-loop in the IDE: the "Required actions" list and the answer form.

``RequiredActions`` (on the DAGs page) lists the tasks of the user's tenant that wait for a
person, newest first, each with its form; ``HitlForm`` (in a task's panel, and in that list)
shows the subject, the body, the options (radio buttons, or checkboxes when ``multiple``)
and the request's form fields, and answers through ``leoflow.engine.services.hitl``, the
same service the API uses: the same checks, and the task resumes at once. Each read and
each answer asks the page's ``Access`` for the current principal first (its tenant and
role now, not when the page was opened).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from nicegui import ui

from leoflow.engine.auth.permissions import EDIT_RUNS, READ, role_allows
from leoflow.engine.services.container import Services
from leoflow.engine.services.errors import ServiceError
from leoflow.engine.services.hitl import (
    HitlDetail,
    HitlNotFound,
    HitlService,
    Responder,
    scheduler_nudge,
)
from leoflow.errors import LeoflowError
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.events import EventHub, LiveRegion
from leoflow.ide.layout import notifier

WAITING = "awaiting_input"


def hitl_service(plane: Services) -> HitlService:
    """The service over the plane's store, nudging its trigger runner (leader or not)."""
    return HitlService(plane.store, nudge=scheduler_nudge(plane.relay))


def _field_value(schema: dict[str, Any], raw: Any) -> Any:
    """A form widget's value as the param's JSON type (text fields hold JSON for objects
    and arrays)."""
    kind = schema.get("type")
    if kind in ("object", "array") and isinstance(raw, str):
        return json.loads(raw) if raw.strip() else None
    if kind == "integer" and isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw


class HitlForm:
    """The answer form of one waiting task instance; ``on_answered`` runs after a
    successful answer."""

    def __init__(self, service: HitlService, access: Access, detail: HitlDetail,
                 on_answered: Callable[[], Awaitable[None]] | None = None) -> None:
        self.service = service
        self.access = access
        self.principal = access.principal
        self.detail = detail
        self.on_answered = on_answered
        self.choice: Any = None
        self.fields: dict[str, Any] = {}

    def build(self) -> None:
        request = self.detail.request
        ti = self.detail.task_instance
        testid = f"hitl-form-{ti.task_id}"
        with ui.column().classes("w-full gap-1").props(f'data-testid="{testid}"'):
            ui.label(request.subject).classes("text-subtitle1").props(
                'data-testid="hitl-subject"')
            if request.body:
                ui.markdown(request.body).classes("w-full")
            if request.response_received or ti.state != WAITING:
                who = request.responded_by_user_name or "the timeout's defaults"
                ui.label(f"Answered {request.chosen_options} by {who}").classes(
                    "text-caption").props('data-testid="hitl-answered"')
                return
            defaults = request.defaults or []
            if request.multiple:
                self.choice = {o: ui.checkbox(o, value=o in defaults).props(
                    f'data-testid="hitl-option-{o}"') for o in request.options}
            elif len(request.options) > 1:
                self.choice = ui.radio(request.options,
                                       value=defaults[0] if defaults else None).props(
                    'inline data-testid="hitl-options"')
            else:
                self.choice = request.options[0]
            for name, spec in request.params.items():
                self.fields[name] = self._field(name, spec if isinstance(spec, dict) else {})
            can_answer = role_allows(self.principal.role, EDIT_RUNS)
            label = request.options[0] if isinstance(self.choice, str) else "Respond"
            ui.button(label, icon="send", on_click=self.submit).props(
                'unelevated data-testid="hitl-submit"').set_enabled(can_answer)

    def _field(self, name: str, spec: dict[str, Any]) -> Any:
        schema = spec.get("schema") or {}
        value = spec.get("value")
        label = spec.get("description") or name
        props = f'data-testid="hitl-param-{name}"'
        if schema.get("type") == "boolean":
            return ui.checkbox(label, value=bool(value)).props(props)
        if schema.get("type") in ("integer", "number"):
            return ui.number(label, value=value).props(props)
        if schema.get("type") in ("object", "array"):
            return ui.textarea(label, value=json.dumps(value) if value is not None else "") \
                .props(props).classes("w-full")
        return ui.input(label, value="" if value is None else str(value)).props(props)

    def chosen(self) -> list[str]:
        if isinstance(self.choice, dict):
            return [o for o, box in self.choice.items() if box.value]
        if isinstance(self.choice, str):
            return [self.choice]
        return [] if self.choice is None or self.choice.value is None else [self.choice.value]

    async def submit(self) -> None:
        ti = self.detail.task_instance
        request = self.detail.request
        notify = notifier()
        try:
            params = {name: _field_value((request.params.get(name) or {}).get("schema") or {},
                                         widget.value) for name, widget in self.fields.items()}
        except ValueError as exc:
            notify(f"A form field is not valid JSON: {exc}", type="negative")
            return
        try:
            principal = await self.access.check(EDIT_RUNS)
        except LeoflowError as exc:
            notify(str(exc), type="negative")
            return
        try:
            await self.service.answer(
                tenant=principal.tenant,
                responder=Responder(id=principal.username, name=principal.username,
                                    role=principal.role),
                dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                map_index=ti.map_index, chosen_options=self.chosen(), params_input=params)
        except ServiceError as exc:
            notify(exc.message, type="negative")
            return
        notify(f"Answered {ti.task_id}: {self.chosen()}", type="positive")
        if self.on_answered is not None:
            await self.on_answered()


class TaskHitlSection:
    """The form in a task instance's panel (nothing when the task never asked)."""

    def __init__(self, plane: Services, access: Access, dag_id: str, run_id: str,
                 task_id: str, map_index: int = -1) -> None:
        self.service = hitl_service(plane)
        self.access = access
        self.key = (dag_id, run_id, task_id, map_index)
        self.detail: HitlDetail | None = None

    async def load(self) -> None:
        dag_id, run_id, task_id, map_index = self.key
        try:
            principal = await self.access.check(READ)
        except AccessDenied:
            self.detail = None
            return
        try:
            self.detail = await self.service.get_detail(
                tenant=principal.tenant, dag_id=dag_id, run_id=run_id, task_id=task_id,
                map_index=map_index)
        except HitlNotFound:
            self.detail = None

    async def build(self) -> None:
        await self.load()
        self.view()

    async def refresh(self) -> None:
        await self.load()
        self.view.refresh()

    @ui.refreshable_method
    def view(self) -> None:
        if self.detail is None:
            return
        with ui.card().classes("w-full").props('flat bordered data-testid="ti-hitl"'):
            with ui.row().classes("items-center gap-1 text-info"):
                ui.icon("front_hand", size="xs")
                ui.label("Required action" if self.detail.task_instance.state == WAITING
                         else "Human in the loop")
            HitlForm(self.service, self.access, self.detail, self.refresh).build()


class RequiredActions:
    """The tenant's tasks waiting for a person (the DAGs page shows it when any wait)."""

    def __init__(self, plane: Services, hub: EventHub, access: Access) -> None:
        self.service = hitl_service(plane)
        self.hub = hub
        self.access = access
        self.waiting: list[HitlDetail] = []

    async def load(self) -> None:
        try:
            principal = await self.access.check(READ)
        except AccessDenied:
            self.waiting = []
            return
        found, _ = await self.service.list_details(
            tenant=principal.tenant, response_received=False, states=[WAITING],
            limit=100)
        self.waiting = found

    async def build(self) -> None:
        await self.load()
        self.view()
        LiveRegion(self.hub, lambda kind, _d: kind in ("ti.deferred", "ti.finished",
                                                       "ti.running", "run.finished"),
                   self.refresh)

    async def refresh(self) -> None:
        await self.load()
        self.view.refresh()

    @ui.refreshable_method
    def view(self) -> None:
        if not self.waiting:
            return
        with ui.card().classes("w-full").props('flat bordered data-testid="required-actions"'):
            ui.label(f"Required actions ({len(self.waiting)})").classes("text-h6")
            for detail in self.waiting:
                ti = detail.task_instance
                link = (f"/dags/{quote(ti.dag_id)}?run_id={quote(ti.run_id)}"
                        f"&task_id={quote(ti.task_id)}")
                with ui.expansion(f"{ti.dag_id} · {ti.task_id}: {detail.request.subject}",
                                  icon="front_hand").classes("w-full").props(
                        f'data-testid="required-action-{ti.dag_id}-{ti.task_id}"'):
                    ui.link(f"run {ti.run_id}", link).classes("text-caption leoflow-mono")
                    HitlForm(self.service, self.access, detail, self.refresh).build()
