"""The task instance panel: state, tries and timings, why it waits, the live log of a try,
its XCom values, and the actions (clear, mark success, mark failed).

The log is a tail (``LogStore.tail``): the stored lines of the try, then new ones as the
agent streams them, until the try finishes. A new try (a retry, a clear) starts a new tail
when the user is following the latest try.

What the panel shows and does is asked of the page's ``Access`` each time (the DAG must be
the current user's tenant's; clear and mark need EDIT_RUNS now); a live log tail asks again
every ``RECHECK_SECONDS`` and stops when the answer is no.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nicegui import background_tasks, context, ui

from leoflow.engine.auth.permissions import EDIT_RUNS, READ, role_allows
from leoflow.engine.logs import LogKey
from leoflow.engine.masking.values import ValueMasker, tenant_masker
from leoflow.errors import LeoflowError
from leoflow.ide import queries
from leoflow.ide.access import Access, AccessDenied
from leoflow.ide.events import EventHub, LiveRegion
from leoflow.ide.hitl import TaskHitlSection
from leoflow.ide.layout import (
    format_duration,
    format_time,
    notifier,
    preformatted,
    state_badge,
    transient_dialog,
)
from leoflow.ide.log_links import SourceLinks, missing_log_reason
from leoflow.ide.project import dag_file
from leoflow.ide.services import IdeServices

log = logging.getLogger("leoflow.ide")

MAX_LOG_LINES = 5000
RECHECK_SECONDS = 5.0  # a live tail asks again whether its user may still read it
LIVE_STATES = frozenset({"queued", "running", "scheduled", "restarting", "deferred",
                         "up_for_reschedule"})


def pretty(value: Any) -> str:
    """XCom values as indented JSON (they are JSON by construction)."""
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


class TaskPanel:
    """Build inside a container; ``close()`` stops its tail and its subscription."""

    def __init__(self, services: IdeServices, hub: EventHub, access: Access, dag_id: str,
                 run_id: str, task_id: str, map_index: int = -1,
                 on_close: Callable[[], None] | None = None) -> None:
        self.services = services
        self.plane = services.require_plane()
        self.hub = hub
        self.access = access
        self.principal = principal = access.principal
        self.dag_id = dag_id
        self.run_id = run_id
        self.task_id = task_id
        self.map_index = map_index
        self.detail: queries.TaskInstanceDetail | None = None
        self.follow_latest = True
        self.log_try: int | None = None
        self.log_lines = 0
        self._tail_task: asyncio.Task[None] | None = None
        self.log_view: ui.log | None = None
        self.log_reason: ui.label | None = None
        self.links: SourceLinks | None = None
        self.files_root: Path | None = None  # the user's folder: log links open its files
        self.dag_file: Path | None = None  # what a traceback's pinned copy of it stands for
        self.card: ui.card | None = None
        self.log_status: ui.label | None = None
        self.try_select: ui.select | None = None
        self.live: LiveRegion | None = None
        self.can_edit = role_allows(principal.role, EDIT_RUNS)
        self.on_close = on_close
        self.hitl: TaskHitlSection | None = None
        self.masker = ValueMasker()

    async def _load(self) -> None:
        """The task instance as the current user may see it (None: not, or not any more)."""
        try:
            principal = await self.access.dag(self.dag_id, READ)
        except AccessDenied:
            self.detail = None
            return
        self.detail = await queries.task_instance_detail(
            self.plane, self.dag_id, self.run_id, self.task_id, self.map_index,
            tenant=principal.tenant)
        if self.detail is not None and self.map_index < 0:
            # a mapped task opened without an index shows its first instance: say which
            self.map_index = self.detail.instance.map_index
        try:
            self.files_root = (await self.access.workspace(READ)).root
        except LeoflowError:
            self.files_root = None
        if self.files_root is not None and self.dag_file is None:
            dag = await queries.dag_detail(self.plane, self.dag_id, tenant=principal.tenant,
                                           grid_runs=1)
            self.dag_file = dag_file(self.services.workspace,
                                     dag.dag.fileloc if dag is not None else None)
        # XCom values are shown with the tenant's secrets masked (stored intact)
        self.masker = await tenant_masker(self.services.auth, principal.tenant)

    async def build(self) -> None:
        await self._load()
        self.card = ui.card().classes("w-full gap-2").props(
            'flat bordered data-testid="task-panel"')
        with self.card:
            await self._fill()
        context.client.on_delete(self.stop_tail)

    async def show_map_index(self, map_index: int) -> None:
        """Show another instance of a mapped task: its state, tries, log and XCom."""
        if map_index == self.map_index:
            return
        self.close()
        self.map_index, self.follow_latest = map_index, True
        await self._load()
        if self.card is None or self.card.is_deleted:
            return
        self.card.clear()
        with self.card:
            await self._fill()

    async def _fill(self) -> None:
        title = self.task_id + (f" [{self.map_index}]" if self.map_index >= 0 else "")
        with ui.row().classes("w-full items-center no-wrap"):
            ui.label(title).classes("text-h6 leoflow-mono")
            ui.space()
            if self.on_close is not None:
                ui.button(icon="close", on_click=self.on_close).props(
                    'flat round dense data-testid="panel-close"').tooltip("Close")
        ui.label(f"run {self.run_id}").classes("text-caption leoflow-mono")
        self.summary()
        self.hitl = TaskHitlSection(self.plane, self.access, self.dag_id, self.run_id,
                                    self.task_id, self.map_index)
        await self.hitl.build()
        with ui.row().classes("gap-2"):
            ui.button("Clear", icon="restart_alt", on_click=self.ask_clear).props(
                'outline data-testid="ti-clear"').set_enabled(self.can_edit)
            ui.button("Mark success", icon="check",
                      on_click=lambda: self.mark("success")).props(
                'outline color=positive data-testid="ti-mark-success"').set_enabled(
                self.can_edit)
            ui.button("Mark failed", icon="close",
                      on_click=lambda: self.mark("failed")).props(
                'outline color=negative data-testid="ti-mark-failed"').set_enabled(
                self.can_edit)
        with ui.expansion("Log", icon="subject", value=True).classes("w-full"):
            with ui.row().classes("items-center gap-2"):
                self.try_select = ui.select(self._try_options(), label="Try",
                                            value=self._latest_try(),
                                            on_change=self._on_try_selected).props(
                    'dense data-testid="log-try"').classes("w-32")
                self.log_status = ui.label("").classes("text-caption").props(
                    'data-testid="log-status"')
            # where the log would be: why there is none (not started, stopped)
            self.log_reason = ui.label("").classes(
                "w-full text-body2 q-pa-sm rounded leoflow-log-reason").props(
                'data-testid="log-reason"')
            self.log_reason.set_visibility(False)
            self.links = SourceLinks(self.files_root, {self.dag_id: self.dag_file}
                                     if self.dag_file is not None else None)
            self.log_view = ui.log(max_lines=MAX_LOG_LINES).classes(
                "w-full h-72 leoflow-log").props('data-testid="task-log"')
        with ui.expansion("XCom", icon="data_object", value=True).classes("w-full"):
            self.xcom_view()
        self.live = LiveRegion(self.hub, self._matches, self.refresh)
        self.start_tail(self._latest_try())

    # -- sections --------------------------------------------------------------------------
    @ui.refreshable_method
    def summary(self) -> None:
        detail = self.detail
        if detail is None:
            ui.label("This task instance does not exist (any more).").classes("text-negative")
            return
        ti = detail.instance
        with ui.row().classes("items-center gap-2"):
            state_badge(ti.state).props('data-testid="ti-state"')
            ui.label(f"try {ti.try_number} of {ti.max_tries + 1}").classes("text-caption")
            if detail.task_spec is not None:
                ui.label(detail.task_spec.operator).classes("text-caption")
        if detail.waiting:
            # Deferred or up_for_reschedule: no process runs; say what it waits for.
            with ui.row().classes("items-center gap-1 text-info").props(
                    'data-testid="ti-trigger"'):
                ui.icon("schedule", size="xs")
                ui.label(f"Waiting for {detail.waiting}")
        elif detail.reason:
            # every other case the scheduler knows: upstream, run, limits, pool, retry
            with ui.row().classes("items-center gap-1 text-warning no-wrap").props(
                    'data-testid="ti-waiting"'):
                ui.icon("hourglass_top", size="xs")
                ui.label(f"Waiting: {detail.reason}")
        rows = [("Queued", format_time(ti.queued_at)), ("Started", format_time(ti.start_date)),
                ("Ended", format_time(ti.end_date)), ("Duration", format_duration(ti.duration))]
        if ti.next_retry_at is not None:
            rows.append(("Next retry", format_time(ti.next_retry_at)))
        if ti.hostname or ti.pid:
            rows.append(("Process", f"{ti.hostname or ''} pid {ti.pid or '-'}"))
        with ui.grid(columns=2).classes("gap-x-4 gap-y-0 text-body2"):
            for name, value in rows:
                ui.label(name).classes("text-grey-7")
                ui.label(value)
        if detail.mapped:
            with ui.row().classes("items-center gap-1").props('data-testid="ti-mapped"'):
                ui.label(f"{len(detail.mapped)} mapped instances:").classes("text-caption")
                for other in detail.mapped:
                    from leoflow.ide.theme import square_style

                    selected = other.map_index == ti.map_index
                    square = ui.element("span").style(
                        square_style(other.state)
                        + ("outline:2px solid currentColor;" if selected else "")).classes(
                        "leoflow-square cursor-pointer")
                    square.props(f'data-map-index="{other.map_index}" '
                                 f'data-state="{other.state or "none"}"')
                    square.tooltip(f"[{other.map_index}] {other.state or 'no status'}")
                    square.on("click", lambda _e, n=other.map_index: self.show_map_index(n))
        if detail.tries:
            with ui.expansion(f"Tries ({len(detail.tries)})", icon="history").classes("w-full"):
                for attempt in detail.tries:
                    with ui.row().classes("items-center gap-2"):
                        ui.label(f"#{attempt.try_number}").classes("leoflow-mono")
                        state_badge(attempt.state)
                        ui.label(f"{format_time(attempt.start_date)} · "
                                 f"{format_duration(attempt.duration)}").classes("text-caption")
                    if attempt.error:
                        preformatted(attempt.error[-4000:])

    @ui.refreshable_method
    def xcom_view(self) -> None:
        detail = self.detail
        if detail is None or not detail.xcoms:
            ui.label("No XCom values.").classes("text-caption text-grey-7").props(
                'data-testid="xcom-empty"')
            return
        for entry in detail.xcoms:
            name = entry.key + (f" [{entry.map_index}]" if entry.map_index >= 0 else "")
            ui.label(name).classes("text-caption leoflow-mono")
            shown = pretty(self.masker.redact_value(entry.value))
            ui.code(shown, language="json").classes("w-full").props(
                f'data-testid="xcom-{entry.key}"')

    # -- live ------------------------------------------------------------------------------
    def _matches(self, kind: str, data: dict[str, Any]) -> bool:
        if data.get("dag_id") != self.dag_id or data.get("run_id") != self.run_id:
            return False
        return kind.startswith("run.") or data.get("task_id") == self.task_id

    async def refresh(self) -> None:
        await self._load()
        if self.detail is None:
            self.stop_tail()
        self.summary.refresh()
        if self.hitl is not None:
            await self.hitl.refresh()
        self.xcom_view.refresh()
        latest = self._latest_try()
        if self.try_select is not None:
            self.try_select.set_options(self._try_options(), value=self.try_select.value)
        if self.follow_latest and latest is not None and latest != self.log_try:
            if self.try_select is not None:
                self.try_select.value = latest  # restarts the tail via _on_try_selected
            else:
                self.start_tail(latest)
        else:
            self._update_status()

    def _latest_try(self) -> int | None:
        if self.detail is None:
            return None
        number = self.detail.instance.try_number
        return number if number > 0 else None

    def _try_options(self) -> dict[int, str]:
        latest = self._latest_try()
        return {n: f"try {n}" for n in range(1, (latest or 0) + 1)}

    def _on_try_selected(self, event: Any) -> None:
        if event.value is None:
            return
        self.follow_latest = event.value == self._latest_try()
        self.start_tail(int(event.value))

    def start_tail(self, try_number: int | None) -> None:
        self.stop_tail()
        self.log_try = try_number
        if self.log_view is not None:
            self.log_view.clear()
        if self.links is not None:
            self.links.clear()
        self.log_lines = 0
        if try_number is None:
            self._update_status()
            return
        ti = self.detail.instance if self.detail else None
        key = LogKey(self.dag_id, self.run_id, self.task_id, try_number=try_number,
                     map_index=ti.map_index if ti else self.map_index)
        self._tail_task = background_tasks.create(self._tail(key), name="leoflow-ide-log-tail")

    async def _tail(self, key: LogKey) -> None:
        self.log_lines = 0
        self._update_status()
        checked = asyncio.get_running_loop().time()
        try:
            await self.access.dag(self.dag_id, READ)
            async for records, _offset in self.plane.logs.tail(key):
                if self.log_view is None or self.log_view.is_deleted:
                    return
                if asyncio.get_running_loop().time() - checked > RECHECK_SECONDS:
                    await self.access.dag(self.dag_id, READ)
                    checked = asyncio.get_running_loop().time()
                for record in records:
                    stamp = (record.timestamp or "")[11:19]
                    css = {"stderr": "leoflow-log-stderr", "agent": "leoflow-log-agent"}.get(
                        record.stream or "")
                    self.log_view.push(f"{stamp} {record.event}", classes=css)
                if self.links is not None:
                    self.links.scan("\n".join(str(r.event) for r in records))
                self.log_lines += len(records)
                self._update_status()
        except asyncio.CancelledError:
            raise
        except AccessDenied as exc:
            self._set_status(exc.message)
        except Exception:
            log.exception("log tail of %s failed", key)
            self._set_status("the log could not be read")

    def _update_status(self) -> None:
        """"live" while the shown try runs; "finished" once it has (lines may still be
        copied in after that: the tail stays open and shows them)."""
        detail, number = self.detail, self.log_try
        if number is None:
            self._set_status("the task has not started yet")
            self._show_reason()
            return
        lines = f"{self.log_lines} line{'s' if self.log_lines != 1 else ''}"
        current = detail is not None and detail.instance.try_number == number
        if current and detail is not None and detail.instance.state in LIVE_STATES:
            started = detail.instance.start_date is not None or detail.instance.state in (
                "running", "deferred", "up_for_reschedule")
            if started or self.log_lines:
                self._set_status(f"try {number} · live · {lines}")
            else:
                self._set_status(f"try {number} has not started yet")
        else:
            self._set_status(f"try {number} finished · {lines}")
        self._show_reason()

    def _show_reason(self) -> None:
        label = self.log_reason
        if label is None or label.is_deleted:
            return
        text = missing_log_reason(self.detail, self.log_try, self.log_lines)
        label.text = text or ""
        label.set_visibility(bool(text))
        if self.log_view is not None and not self.log_view.is_deleted:
            self.log_view.set_visibility(not text)

    def _set_status(self, text: str) -> None:
        if self.log_status is not None and not self.log_status.is_deleted:
            self.log_status.text = text

    def stop_tail(self) -> None:
        if self._tail_task is not None and not self._tail_task.done():
            self._tail_task.cancel()
        self._tail_task = None

    def close(self) -> None:
        self.stop_tail()
        if self.live is not None:
            self.live.close()

    # -- actions ---------------------------------------------------------------------------
    async def mark(self, state: str) -> None:
        ti = self.detail.instance if self.detail else None
        notify = notifier()
        try:
            principal = await self.access.dag(self.dag_id, EDIT_RUNS)
            await self.plane.operations.mark_task_instance(
                self.dag_id, self.run_id, self.task_id, state,
                map_index=ti.map_index if ti else -1, user=principal.username)
        except LeoflowError as exc:
            notify(str(exc), type="negative")
            return
        notify(f"{self.task_id} marked {state}", type="positive")
        self.hub.publish("ti.marked", {"dag_id": self.dag_id, "run_id": self.run_id,
                                       "task_id": self.task_id})

    def ask_clear(self) -> None:
        with transient_dialog() as dialog, ui.card():
            ui.label(f"Clear {self.task_id}?").classes("text-h6")
            ui.label("Cleared task instances run again (the run is queued again).").classes(
                "text-caption")
            downstream = ui.checkbox("With downstream tasks", value=True).props(
                'data-testid="clear-downstream"')
            only_failed = ui.checkbox("Only failed ones", value=False).props(
                'data-testid="clear-only-failed"')

            async def confirm() -> None:
                dialog.close()
                await self.clear(include_downstream=bool(downstream.value),
                                 only_failed=bool(only_failed.value))

            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Clear", on_click=confirm).props(
                    'color=primary data-testid="clear-confirm"')
        dialog.open()

    async def clear(self, *, include_downstream: bool, only_failed: bool) -> None:
        notify = notifier()
        try:
            principal = await self.access.dag(self.dag_id, EDIT_RUNS)
            cleared = await self.plane.operations.clear_task_instances(
                self.dag_id, self.run_id, [self.task_id], include_downstream=include_downstream,
                only_failed=only_failed, user=principal.username)
        except LeoflowError as exc:
            notify(str(exc), type="negative")
            return
        notify(f"Cleared {len(cleared)} task instance(s): they run again", type="positive")
        self.follow_latest = True
        self.hub.publish("ti.cleared", {"dag_id": self.dag_id, "run_id": self.run_id,
                                        "task_id": self.task_id})


async def open_panel(container: ui.element, services: IdeServices, hub: EventHub,
                     access: Access, dag_id: str, run_id: str, task_id: str,
                     map_index: int = -1, previous: TaskPanel | None = None,
                     on_close: Callable[[], None] | None = None) -> TaskPanel:
    """Replace whatever ``container`` holds with the panel of one task instance."""
    if previous is not None:
        with contextlib.suppress(Exception):
            previous.close()
    container.clear()
    panel = TaskPanel(services, hub, access, dag_id, run_id, task_id, map_index,
                      on_close=on_close)
    with container:
        await panel.build()
    return panel
