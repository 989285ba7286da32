"""What the scheduler's queue carries, and the batch the worker applies it in.

Everything that can change a run arrives as one typed item: an executor's report, a run or
a DAG to look at again, a timer that fell due, a trigger's event, a freed slot. The worker
takes every item waiting and ``collect`` sorts them by type into a ``Work`` (the batch's
inputs). A ``Batch`` is one transaction's own state: the moment and number it runs under,
what it learned while deciding (running runs counted, consumer runs its asset events
created) and what it decided to do once committed (launches, cancels, trigger rows to hand
to the runner or drop, events for listeners). It is passed explicitly to whatever applies
the work, so nothing of one batch lingers on the scheduler when the next one starts, and a
failed batch is dropped whole.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leoflow.engine.executors.base import ExecutorEvent, TaskLaunch
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store.rows import TaskInstanceRow, TriggerRow
from leoflow.engine.triggers import TriggerEvent


@dataclass(frozen=True)
class ReportItem:
    """An executor's report: a try started or ended."""

    event: ExecutorEvent


@dataclass(frozen=True)
class RunItem:
    """Evaluate a run again (a user's operation, a wake-up timer, a freed run slot)."""

    dag_run_id: int


@dataclass(frozen=True)
class DagItem:
    """Recompute a DAG's schedule and start its queued runs (registration, unpause, cron)."""

    dag_id: str


@dataclass(frozen=True)
class TimeoutItem:
    """A try's ``execution_timeout`` fell due."""

    ti_id: str
    try_number: int


@dataclass(frozen=True)
class RunTimeoutItem:
    """A run's ``dagrun_timeout`` fell due."""

    dag_run_id: int


@dataclass(frozen=True)
class TriggerItem:
    """The trigger runner's event: a trigger fired or timed out."""

    event: TriggerEvent


@dataclass(frozen=True)
class SlotsItem:
    """Slots were freed or pools resized: runs held back by a limit may go now."""


WorkItem = ReportItem | RunItem | DagItem | TimeoutItem | RunTimeoutItem | TriggerItem | SlotsItem


@dataclass(frozen=True)
class RetryItem:
    """An item whose batch failed ``attempts`` times, put back for another try."""

    item: WorkItem
    attempts: int


@dataclass
class Work:
    """A batch's inputs, collected by type from the queue's items."""

    items: list[tuple[WorkItem, int]] = field(default_factory=list)  # (item, attempts)
    reports: list[ExecutorEvent] = field(default_factory=list)
    runs: set[int] = field(default_factory=set)
    dags: set[str] = field(default_factory=set)
    timeouts: list[TimeoutItem] = field(default_factory=list)
    run_timeouts: set[int] = field(default_factory=set)
    trigger_events: list[TriggerEvent] = field(default_factory=list)


def collect(entries: list[tuple[WorkItem, int]]) -> Work:
    """Sort the items of one batch by what they ask for."""
    work = Work(items=entries)
    for item, _ in entries:
        match item:
            case ReportItem(event=event):
                work.reports.append(event)
            case RunItem(dag_run_id=dag_run_id):
                work.runs.add(dag_run_id)
            case DagItem(dag_id=dag_id):
                work.dags.add(dag_id)
            case TimeoutItem():
                work.timeouts.append(item)
            case RunTimeoutItem(dag_run_id=dag_run_id):
                work.run_timeouts.add(dag_run_id)
            case TriggerItem(event=event):
                work.trigger_events.append(event)
            case SlotsItem():
                pass  # nothing to add: the batch re-evaluates runs held back by limits
    return work


@dataclass(frozen=True)
class Cancel:
    """A try to stop through its executor after the commit (``None``: the default one)."""

    ti_id: str
    executor: str | None
    reason: str


@dataclass
class Batch:
    """One transaction of the loop: its moment, what it learned, what it will do after the
    commit. Created by the façade for each batch and passed to every step."""

    number: int  # a view stamped in this batch is valid for the rest of it
    now: datetime
    launches: list[tuple[TaskLaunch, TaskSpec]] = field(default_factory=list)
    cancels: list[Cancel] = field(default_factory=list)
    trigger_adds: list[tuple[TriggerRow, TaskInstanceRow]] = field(default_factory=list)
    trigger_drops: list[int] = field(default_factory=list)
    emits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Running runs per DAG, counted once per batch (many runs starting at once).
    running_runs: dict[str, int] = field(default_factory=dict)
    # Consumer runs created by this batch's asset events: evaluated in the same batch.
    asset_runs: set[int] = field(default_factory=set)
    # When the batch began (epoch ns): tracing's start of a decision and of a report's commit
    started_ns: int = field(default_factory=time.time_ns)

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Tell listeners after the commit (nothing is said of a batch rolled back)."""
        self.emits.append((kind, data))


def coalesce(events: list[ExecutorEvent]
             ) -> list[tuple[ExecutorEvent, ExecutorEvent | None]]:
    """Pair a try's "running" report with its final report when both are in one batch."""
    final_at: dict[tuple[str, int], int] = {}
    for i, event in enumerate(events):
        if event.state != "running":
            final_at.setdefault((event.ti_id, event.try_number), i)
    started: dict[int, ExecutorEvent] = {}
    out: list[tuple[ExecutorEvent, ExecutorEvent | None]] = []
    for i, event in enumerate(events):
        if event.state == "running":
            j = final_at.get((event.ti_id, event.try_number))
            if j is not None and j > i:
                started[j] = event
                continue
        out.append((event, started.get(i)))
    return out
