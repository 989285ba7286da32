"""The ``external_task`` trigger kind: waits for another DAG's run (or some of its tasks).

It reads the store: the other DAG's run whose logical date is this run's minus
``execution_delta``. When that run is scheduled by this control plane, the runner also
polls at once whenever the scheduler reports a change in that DAG (its listener events),
so the wait usually ends within a moment of the other task finishing rather than at the
next ``poke_interval``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from leoflow.engine.store import Store
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.triggers.base import PollResult, TriggerError


def validate(kwargs: Mapping[str, Any]) -> None:
    if not isinstance(kwargs.get("external_dag_id"), str) or not kwargs["external_dag_id"]:
        raise TriggerError("an external_task trigger needs external_dag_id",
                           field="trigger.kwargs.external_dag_id")
    ids = kwargs.get("external_task_ids")
    if ids is not None and (not isinstance(ids, list)
                            or not all(isinstance(i, str) for i in ids)):
        raise TriggerError("external_task_ids must be a list of task ids or null",
                           field="trigger.kwargs.external_task_ids")


def target_date(kwargs: Mapping[str, Any], logical_date: datetime | None) -> datetime | None:
    delta = kwargs.get("execution_delta")
    if logical_date is None or delta is None:
        return logical_date
    return logical_date - timedelta(seconds=float(delta))


async def poll(kwargs: Mapping[str, Any], store: Store,
               logical_date: datetime | None) -> PollResult:
    dag_id = str(kwargs["external_dag_id"])
    task_ids = kwargs.get("external_task_ids")
    group = kwargs.get("external_task_group_id") or None
    allowed = set(kwargs.get("allowed_states") or ["success"])
    failed = set(kwargs.get("failed_states") or [])
    skipped = set(kwargs.get("skipped_states") or [])
    when = target_date(kwargs, logical_date)
    shown = when.isoformat() if when else "none"
    what = (f"task(s) {', '.join(task_ids)} of DAG {dag_id}" if task_ids
            else f"task group {group} of DAG {dag_id}" if group else f"DAG {dag_id}")
    async with store.connect() as conn:
        run_state, states = await trigger_rows.external_states(conn, dag_id, when, task_ids,
                                                               task_group_id=group)
    if run_state is None:
        return PollResult(None, f"{what} at logical date {shown} (no such run yet) to be "
                                f"{'/'.join(sorted(allowed))}")
    if group and not task_ids:  # the group's tasks; none (yet) keeps the sensor waiting
        watched = [s for found in states.values() for s in found] or [None]
    else:
        watched = [run_state] if not task_ids else [
            s for tid in task_ids for s in (states.get(tid) or [None])]
    bad = sorted({str(s) for s in watched if s in failed})
    if bad:
        return PollResult({"status": "failed",
                           "reason": f"{what} at {shown} is {', '.join(bad)}"}, "")
    skip = sorted({str(s) for s in watched if s in skipped})
    if skip:
        return PollResult({"status": "skipped",
                           "reason": f"{what} at {shown} is {', '.join(skip)}"}, "")
    if watched and all(s in allowed for s in watched):
        return PollResult({"status": "success"}, f"{what} at {shown} reached "
                                                 f"{'/'.join(sorted(allowed))}")
    now = ", ".join(sorted({str(s) for s in watched}))
    return PollResult(None, f"{what} at logical date {shown} to be "
                            f"{'/'.join(sorted(allowed))} (now: {now})")
