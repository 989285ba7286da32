"""Applying executors' reports to tries, and stopping tries that ran out of time.

A report names a try (task instance id and try number); a report for another try than the
current one, or for a task instance already decided (marked by a user, timed out, cleared),
is ignored. "running" moves the try to running and starts its ``execution_timeout``; a final
report ends it (``Tries.finish``), after recording what a branch or short-circuit task chose;
``up_for_reschedule`` and ``deferred`` park it (``Deferral``). A try's "running" and final
reports that arrive in one batch are written once (``work_items.coalesce``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.scheduler.branch_choice import InvalidBranchChoice, normalize_branch_choice
from leoflow.engine.scheduler.deferral import Deferral
from leoflow.engine.scheduler.run_views import SKIPMIXIN_KEY, RunViews
from leoflow.engine.scheduler.timers import Timers
from leoflow.engine.scheduler.tries import Tries
from leoflow.engine.scheduler.work_items import Batch, Cancel, TimeoutItem
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store import xcom

log = logging.getLogger("leoflow.scheduler")


class Reports:
    """Applies reports and execution timeouts (see the module docstring)."""

    def __init__(self, views: RunViews, tries: Tries, deferral: Deferral, timers: Timers,
                 executor_for: Callable[[TaskSpec], str]) -> None:
        self._views = views
        self._tries = tries
        self._deferral = deferral
        self._timers = timers
        self._executor_for = executor_for

    async def apply(self, conn: AsyncConnection, batch: Batch, event: ExecutorEvent,
                    started: ExecutorEvent | None = None) -> int | None:
        """Apply one report; ``started`` is the same try's "running" report when it arrived
        in the same batch (one write for both). Returns the run to evaluate."""
        found = await self._views.ti_view(conn, batch, event.ti_id)
        if found is None:
            log.info("ignoring a report for unknown task instance %s", event.ti_id)
            return None
        view, ti = found
        if ti.try_number != event.try_number:
            log.info("ignoring a stale report for %s try %s", event.ti_id, event.try_number)
            return None
        now = batch.now
        info = dict(started.info) if started is not None else {}
        info.update(event.info)
        where: dict[str, Any] = {k: info[k] for k in ("hostname", "pid", "external_executor_id")
                                 if k in info}
        task = view.spec.task(ti.task_id)
        ti_data = {"ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id,
                   "task_id": ti.task_id, "map_index": ti.map_index}
        if started is not None and ti.state in ("queued", "scheduled"):
            where.update(start_date=now, last_heartbeat_at=now, duration=0.0)
            batch.emit("ti.running", dict(ti_data))
        if event.state == "running":
            if ti.state not in ("queued", "scheduled"):
                return None
            await self._views.write(conn, batch, view, ti, "running", **where)
            if task.execution_timeout:
                self._timers.set(("timeout", ti.id),
                                 now + timedelta(seconds=task.execution_timeout),
                                 TimeoutItem(ti.id, ti.try_number))
            batch.emit("ti.running", dict(ti_data))
            return None
        if ti.state not in ("queued", "running", "scheduled"):
            return None  # already decided (marked by a user, timed out, cleared)
        state: str = event.state
        error = event.error
        if state == "up_for_reschedule":
            await self._deferral.reschedule(conn, batch, view, ti, info, where)
            return view.run.id
        if state == "deferred":
            await self._deferral.defer(conn, batch, view, ti, task, info, where)
            return view.run.id
        if state == "success" and task.operator == "branch":
            try:
                followed = normalize_branch_choice(view.spec, task.task_id,
                                                   info.get("follow_task_ids"))
            except InvalidBranchChoice as exc:
                state, error = "failed", str(exc)
            else:
                await xcom.put_xcom(conn, dag_run_id=view.run.id, task_id=ti.task_id,
                                    map_index=ti.map_index, key=SKIPMIXIN_KEY,
                                    value={"followed": list(followed)}, now=now)
                view.branch[ti.task_id] = followed
        if state == "success" and task.operator == "short_circuit":
            proceed = bool(info.get("short_circuit_continue", True))
            await xcom.put_xcom(conn, dag_run_id=view.run.id, task_id=ti.task_id,
                                map_index=ti.map_index, key=SKIPMIXIN_KEY,
                                value={"short_circuit": proceed}, now=now)
            view.short_circuit[ti.task_id] = proceed
        await self._tries.finish(conn, batch, view, ti, task, state, error,
                                 no_retry=bool(info.get("no_retry")), where=where,
                                 retry_delay=info.get("retry_delay"),
                                 outlet_events=info.get("outlet_events"))
        return view.run.id

    async def apply_timeout(self, conn: AsyncConnection, batch: Batch,
                            item: TimeoutItem) -> int | None:
        """execution_timeout: stop the try through its executor; fail it (or retry it)."""
        self._timers.forget(("timeout", item.ti_id))
        found = await self._views.ti_view(conn, batch, item.ti_id)
        if found is None:
            return None
        view, ti = found
        if ti.try_number != item.try_number or ti.state != "running":
            return None
        task = view.spec.task(ti.task_id)
        batch.cancels.append(Cancel(ti.id, ti.executor or self._executor_for(task),
                                    "execution_timeout"))
        message = (f"AirflowTaskTimeout: the task ran longer than its execution_timeout "
                   f"({task.execution_timeout:g} s) and was stopped")
        await self._tries.finish(conn, batch, view, ti, task, "failed", message)
        return view.run.id
