"""The executor protocol between the scheduler loop and whatever runs tasks.

The scheduler hands an executor a ``TaskLaunch`` for each try it queues and never waits for
the task: the executor reports back through the callback it was given
(``ExecutorEvent``: running, success, failed, skipped; deferred and up_for_reschedule
when the try waits without a process). Subprocess, Kubernetes and inline
HTTP executors implement this protocol; tests use a scripted one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from leoflow.engine.spec.model import TaskSpec

EventState = Literal["running", "success", "failed", "skipped", "deferred", "up_for_reschedule"]


@dataclass(frozen=True)
class TaskLaunch:
    """One try of one task instance, as the scheduler queued it."""

    ti_id: str
    dag_id: str
    run_id: str
    dag_run_id: int
    task_id: str
    map_index: int
    try_number: int
    dag_version_id: str
    operator: str
    execution_timeout: float | None = None
    pid: int | None = None  # the agent's process id, when known (after a restart)


@dataclass(frozen=True)
class ExecutorEvent:
    """What happened to a try. ``try_number`` guards against stale reports of an older try.

    ``info`` carries outcome details the scheduler needs: ``follow_task_ids`` (branch tasks),
    ``short_circuit_continue`` (short-circuit tasks), ``no_retry`` (fail without retrying),
    ``hostname`` / ``pid`` / ``external_executor_id`` (where it runs). A try that does not
    end but waits reports ``up_for_reschedule`` with ``reschedule_date`` (epoch seconds), or
    ``deferred`` with ``trigger`` (``{"kind", "kwargs"}``), ``next_method``, ``next_kwargs``
    and ``defer_timeout`` (seconds or ``None``); both free the executor slot.
    """

    ti_id: str
    try_number: int
    state: EventState
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


EventCallback = Callable[[ExecutorEvent], Awaitable[None]]


class Executor(Protocol):
    """Starts tries and reports their fate; never blocks the scheduler."""

    name: str

    def set_callback(self, callback: EventCallback) -> None:
        """Where to report events; called once by the scheduler before any ``start``."""

    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        """Begin the try in the background and return at once."""

    async def cancel(self, ti_id: str, reason: str) -> None:
        """Stop the try if it still runs (no event is required afterwards)."""

    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        """After a restart: ``known`` were queued or running when the scheduler stopped.

        Report a terminal event for each one the executor cannot find any more (its process
        is gone), and keep supervising the ones still alive.
        """

    async def close(self) -> None:
        """Stop supervising (tasks may be left running; ``reconcile`` finds them later)."""
