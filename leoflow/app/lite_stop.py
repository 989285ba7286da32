"""Lite's orderly stop (Ctrl-C, SIGTERM): nothing new starts, what was in flight is failed
without retry with a reason the user reads, the runs settle, then the agents stop.

After a crash (``kill -9``) this never ran: the next start reconciles what was in flight
instead (agents still alive reconnect and report, tries whose agent is gone are failed or
retried).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("leoflow.lite")

STOP_REASON = ("Lite was stopped while this task was running (Ctrl-C or SIGTERM); it was "
               "cancelled without retry. Clear the task or trigger the DAG again to run it.")
NOT_STARTED_REASON = "Lite was stopping, so the task was not started; clear it to run it."
DRAIN_TIMEOUT = 10.0  # seconds the scheduler gets to record the cancelled tasks


async def cancel_running_tasks(plane: Any, reason: str, *,
                               timeout: float = DRAIN_TIMEOUT) -> int:
    """Fail every queued or running task instance without retry (``reason`` is its error),
    let the scheduler record it and settle the runs, then stop the agents. Returns how many
    were cancelled. Call it before ``plane.stop()``."""
    from leoflow.engine.executors.base import ExecutorEvent
    from leoflow.engine.store import task_instances

    scheduler = plane.scheduler
    executors = dict(scheduler.executors)
    # From now on nothing new starts: a task the rules still hand out (a downstream
    # ``all_done`` task, say) is failed at once with NOT_STARTED_REASON instead.
    await scheduler.drain(NOT_STARTED_REASON)
    async with plane.store.connect() as conn:
        in_flight = (await task_instances.list_task_instances(
            conn, state=["queued", "running"], limit=None)).items
    for ti in in_flight:
        await scheduler.report(ExecutorEvent(ti.id, ti.try_number, "failed", error=reason,
                                             info={"no_retry": True}))
    try:
        await scheduler.idle(timeout)
    except TimeoutError:
        log.warning("the scheduler did not settle within %g s; the next start reconciles "
                    "what is left", timeout)
    default = next(iter(executors.values()))
    await asyncio.gather(*(executors.get(ti.executor or "", default).cancel(ti.id, "stopped")
                           for ti in in_flight), return_exceptions=True)
    return len(in_flight)
