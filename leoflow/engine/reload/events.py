"""What the hot reloader tells: one event per step of a project's reload, and where each
project stands.

Events (``ReloadEvent``) go to every subscribed callback, in the event loop:
``compiling``, ``environment`` (one progress line), ``compiled`` (per DAG: ``dag_id``,
``version_number``, ``spec``, ``new_version``), ``failed`` (``error``: ``file``, ``line``,
``message``, ``kind``) and ``removed`` (the project's files are gone; its DAGs stay
registered with their history). Subscribers that only want outcomes look at ``ok`` (True,
False, or None for the steps in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from leoflow.engine.reload.errors import ReloadError

log = logging.getLogger("leoflow.lite.reload")

EventKind = Literal["compiling", "environment", "compiled", "failed", "removed"]
ProjectState = Literal["pending", "compiling", "ok", "failed", "removed"]

Listener = Callable[["ReloadEvent"], Any]


@dataclass(frozen=True)
class ReloadEvent:
    """One step of a project's reload.

    ``project`` is the project folder relative to the workspace (POSIX separators),
    ``project_dir`` the absolute folder. ``compiled`` events carry one DAG each
    (``dag_id``, ``version_number``, ``spec``; ``new_version`` is False when the content
    was already registered); ``failed`` events carry ``error``; ``environment`` events carry
    one progress line in ``message``. ``seconds`` is the time since the reload began.
    """

    kind: EventKind
    project: str
    project_dir: Path
    dag_id: str | None = None
    version_number: int | None = None
    new_version: bool = False
    spec: Mapping[str, Any] | None = None
    error: ReloadError | None = None
    message: str | None = None
    seconds: float | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool | None:
        """True for ``compiled``, False for ``failed``, None for the steps in between."""
        return {"compiled": True, "failed": False}.get(self.kind)

    @property
    def dag_ids(self) -> tuple[str, ...]:
        return (self.dag_id,) if self.dag_id else ()

    @property
    def versions(self) -> dict[str, int]:
        return {self.dag_id: self.version_number} \
            if self.dag_id and self.version_number is not None else {}

    @property
    def file(self) -> str | None:
        return self.error.file if self.error else None

    @property
    def line(self) -> int | None:
        return self.error.line if self.error else None


@dataclass(frozen=True)
class ProjectStatus:
    """Where a project stands, for the IDE: its DAGs and versions, or its error (the last
    good versions stay registered and runnable while it is failing)."""

    project: str
    project_dir: Path
    state: ProjectState
    dag_ids: tuple[str, ...] = ()
    versions: Mapping[str, int] = field(default_factory=dict)
    error: ReloadError | None = None
    updated_at: datetime | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass
class ProjectEntry:
    """The reloader's record of one project: its status, whether a reload is asked for
    (``dirty``, ``force``), who waits for it, the reload running and what it compiled last."""

    path: Path
    status: ProjectStatus
    dirty: bool = False
    force: bool = False
    waiters: list[asyncio.Future[ProjectStatus]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    fingerprint: str | None = None


class Listeners:
    """The subscribed callbacks; a coroutine function's result is run as a task, kept until
    it ends, and its failure logged."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (a coroutine function is scheduled as a
        task). Returns a function that unsubscribes."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

    def pending(self) -> list[asyncio.Task[Any]]:
        """The listener tasks still running (the reloader cancels them when it stops)."""
        return list(self._tasks)

    def emit(self, event: ReloadEvent) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(event)
            except Exception:
                log.exception("a reload listener failed on %s", event.kind)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._listener_done)

    def _listener_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a reload listener failed", exc_info=task.exception())
