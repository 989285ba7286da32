"""Push updates: engine events fanned out to the pages that are open.

One ``EventHub`` per IDE. It is a scheduler listener (``ti.queued``, ``ti.running``,
``ti.finished``, ``run.running``, ``run.finished``), a reloader subscriber (``compile``) and
the channel of the IDE's own changes (``dag.changed`` after a pause, ``files.changed`` after
a create or delete). A page registers a ``LiveRegion``: a predicate over events and an async
``refresh``; matching events arriving close together cost one refresh, run as a NiceGUI
background task inside the page's client, and the subscription ends when the client is
deleted. Nothing polls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("leoflow.ide")

Event = tuple[str, dict[str, Any]]
Listener = Callable[[str, dict[str, Any]], None]


class EventSource(Protocol):
    """What the hub listens to: the scheduler (``Services.scheduler``)."""

    def add_listener(self, listener: Listener) -> None: ...

    def remove_listener(self, listener: Listener) -> None: ...


class EventHub:
    """Synchronous fan-out: listeners must only schedule work (they run inside the
    scheduler's loop step)."""

    def __init__(self) -> None:
        self._listeners: dict[int, Listener] = {}
        self._next = 0
        self.attached_to: EventSource | None = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        key = self._next
        self._next += 1
        self._listeners[key] = listener

        def unsubscribe() -> None:
            self._listeners.pop(key, None)

        return unsubscribe

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        for listener in list(self._listeners.values()):
            try:
                listener(kind, data)
            except Exception:
                log.exception("an IDE event listener failed on %s", kind)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    # -- sources -------------------------------------------------------------------------
    def attach_scheduler(self, scheduler: EventSource) -> None:
        """Listen to a running scheduler's events.

        The scheduler takes its listeners when it is built (``start_control_plane``'s
        ``listeners``); ``build_app`` passes none, so the hub adds itself to the running
        scheduler here with ``add_listener``.
        """
        if self.attached_to is scheduler:
            return
        scheduler.add_listener(self.publish)
        self.attached_to = scheduler

    def detach_scheduler(self) -> None:
        scheduler, self.attached_to = self.attached_to, None
        if scheduler is None:
            return
        scheduler.remove_listener(self.publish)

    def compile_listener(self, event: Any) -> None:
        """The reloader's callback: every compile becomes a ``compile`` event."""
        from leoflow.ide.compile_events import outcome_from

        outcome = outcome_from(event)
        self.publish("compile", {"outcome": outcome, "project_dir": outcome.project_dir,
                                 "dag_ids": outcome.dag_ids, "ok": outcome.ok})


class LiveRegion:
    """Refresh part of a page when matching events arrive, at most once per ``delay``.

    Create it inside a page (it binds to the current NiceGUI client); ``refresh`` is awaited
    inside the client's context, so it may update elements or call ``refreshable.refresh``.
    """

    def __init__(self, hub: EventHub, matches: Callable[[str, dict[str, Any]], bool],
                 refresh: Callable[[], Awaitable[None]], *, delay: float = 0.1) -> None:
        from nicegui import context

        self.hub = hub
        self.matches = matches
        self.refresh = refresh
        self.delay = delay
        self.client = context.client
        self._pending = False
        # One refresh at a time: a slow one (reads under load) finishing after the next
        # would draw its older data over the newer (a task left "running" once it ended).
        self._refreshing = asyncio.Lock()
        self._unsubscribe = hub.subscribe(self._on_event)
        self.client.on_delete(self.close)

    def _on_event(self, kind: str, data: dict[str, Any]) -> None:
        if self.client.is_deleted:
            return
        try:  # asked even while a refresh is pending: a filter notes what an event changes
            wanted = self.matches(kind, data)
        except Exception:
            log.exception("an IDE event filter failed on %s", kind)
            return
        if wanted and not self._pending:
            self._pending = True
            from nicegui import background_tasks

            background_tasks.create(self._run(), name="leoflow-ide-refresh")

    async def _run(self) -> None:
        try:
            await asyncio.sleep(self.delay)  # coalesce a burst (a run's many task events)
        finally:
            self._pending = False
        async with self._refreshing:
            if self.client.is_deleted:
                return
            with self.client:
                try:
                    await self.refresh()
                except Exception:
                    log.exception("refreshing an IDE page failed")

    def close(self) -> None:
        self._unsubscribe()


def for_dag(dag_id: str) -> Callable[[str, dict[str, Any]], bool]:
    """Events about one DAG: its runs and task instances, a compile of it, a pause."""

    def matches(kind: str, data: dict[str, Any]) -> bool:
        if kind == "compile":
            return dag_id in (data.get("dag_ids") or ())
        return data.get("dag_id") == dag_id

    return matches


def any_dag(kind: str, data: dict[str, Any]) -> bool:
    return kind.startswith(("run.", "dag.", "compile", "ti.finished"))
