"""What a starting scheduler makes of the tries that were in flight (queued or running)
when the previous control plane stopped or crashed.

The try's fencing record (``leoflow.engine.store.tokens``: the agent's start and its
report, each committed before the agent was answered) tells three cases apart:

- **reported**: the agent's report was recorded but not applied (the crash came between
  the answer and the scheduler's commit). The report is applied now, as if it had just
  arrived; the try is not taken for lost.
- **started**: the agent authenticated (it may be running user code, or may have ended
  without a word: "ran and vanished"). The executor adopts it if its process is alive and
  reports it lost otherwise, which Airflow's rules turn into up_for_retry or failed. A
  start whose "running" was never applied is applied now (with the agent's pid).
- **never started**: queued, no agent authenticated. Its token is revoked in the same
  conditional write an agent's ``Authenticate`` would race with, so a late agent (frozen,
  slow to start) is refused before it runs user code; the try is then launched again, the
  same try: no try is spent, no retry delay waited.

Executors without agents or tokens (inline HTTP requests) keep their own reconciliation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.store import Store, tokens
from leoflow.engine.store.rows import TaskInstanceRow

TOKENLESS_EXECUTORS = frozenset({"http"})


@dataclass
class Reconciled:
    """The plan for the in-flight tries; ``adopt`` and ``relaunch`` hold ti ids."""

    events: list[ExecutorEvent] = field(default_factory=list)
    adopt: set[str] = field(default_factory=set)
    relaunch: set[str] = field(default_factory=set)
    pids: dict[str, int] = field(default_factory=dict)


def _at_or_after(moment: datetime | None, since: datetime | None) -> bool:
    return moment is not None and (since is None or moment >= since)


def _report_event(ti: TaskInstanceRow, report: dict[str, Any]) -> ExecutorEvent:
    return ExecutorEvent(ti.id, ti.try_number, report["state"], error=report.get("error"),
                         info=dict(report.get("info") or {}))


def _start_event(ti: TaskInstanceRow, attempt: tokens.Attempt) -> ExecutorEvent:
    return ExecutorEvent(ti.id, ti.try_number, "running",
                         info={"hostname": attempt.hostname or "", "pid": attempt.pid or 0})


async def reconcile_in_flight(store: Store, in_flight: Sequence[TaskInstanceRow]
                              ) -> Reconciled:
    """Decide, and revoke the tokens of the tries that never started (one transaction)."""
    plan = Reconciled()
    with_tokens = [ti for ti in in_flight if ti.executor not in TOKENLESS_EXECUTORS]
    plan.adopt.update(ti.id for ti in in_flight if ti.executor in TOKENLESS_EXECUTORS)
    if not with_tokens:
        return plan
    async with store.begin() as conn:
        found = await tokens.attempts_of(conn, [ti.id for ti in with_tokens])
        for ti in with_tokens:
            attempt = found.get(ti.id)
            current = attempt if attempt is not None \
                and attempt.try_number == ti.try_number else None
            # a report older than the try's queueing was a resumed try's previous agent's
            if current is not None and current.report is not None \
                    and _at_or_after(current.reported_at, ti.queued_at):
                plan.events.append(_report_event(ti, current.report))
                continue
            if current is not None and current.started and current.reported_at is None:
                _adopt(plan, ti, current)
                continue
            if ti.state == "running":  # started, though not by a recorded agent
                _adopt(plan, ti, None)
                continue
            if await tokens.revoke_unstarted(conn, ti.id, ti.try_number):
                plan.relaunch.add(ti.id)
                continue
            # its agent authenticated while we decided: it started
            again = (await tokens.attempts_of(conn, [ti.id]))[ti.id]
            _adopt(plan, ti, again)
    return plan


def _adopt(plan: Reconciled, ti: TaskInstanceRow, attempt: tokens.Attempt | None) -> None:
    plan.adopt.add(ti.id)
    pid = ti.pid or (attempt.pid if attempt is not None else None)
    if pid:
        plan.pids[ti.id] = pid
    if ti.state == "queued" and attempt is not None:
        plan.events.append(_start_event(ti, attempt))
