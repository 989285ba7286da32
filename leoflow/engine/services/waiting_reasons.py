"""Why a task instance has not started (yet): one sentence for every case the scheduler
knows, for the IDE's task panel and any face that shows a task instance.

The scheduler records only the reasons it decides at admission (``waiting_reason``: the
parallelism, a DAG's ``max_active_tasks``, a pool); the rest follows from the instance's
state and its run: upstream tasks not done, a run held by ``max_active_runs`` or a paused
DAG, a retry delay, a deferral, a queued try whose agent has not started. A pure function
over what the read already holds, so every face words it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow

FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
DONE_OK = frozenset({"success", "skipped"})


def _at(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment is not None else "a time not set yet"


def _in(moment: datetime | None, now: datetime | None) -> str:
    if moment is None or now is None:
        return ""
    seconds = (moment - now).total_seconds()
    return f" (in {seconds:.0f} s)" if seconds > 0 else " (due now)"


def admission_reason(stored: str | None) -> str | None:
    """The scheduler's recorded reason without a leading "waiting:" (the panel says
    "Waiting:" itself; older rows carry the prefix)."""
    if not stored:
        return None
    text = stored.strip()
    if text.lower().startswith("waiting: "):
        text = text[len("waiting: "):]
    return text


def upstream_reason(task: TaskSpec | None, upstream: Mapping[str, str | None]) -> str | None:
    """Which upstream tasks the instance waits for, with their states."""
    if task is None or not task.upstream:
        return None
    pending = [f"{up} ({upstream.get(up) or 'no status'})" for up in task.upstream
               if upstream.get(up) not in FINISHED]
    if not pending:
        return None
    rule = "" if task.trigger_rule == "all_success" else f" (trigger rule {task.trigger_rule})"
    return f"upstream task{'s' if len(pending) > 1 else ''} {', '.join(pending)} to finish{rule}"


def run_reason(run: DagRunRow, *, dag_paused: bool, max_active_runs: int | None) -> str | None:
    """Why the instance's run itself has not started."""
    if run.state != "queued":
        return None
    if dag_paused:
        return "its run is queued and the DAG is paused: unpause it to start the run"
    limit = f" ({max_active_runs})" if max_active_runs else ""
    return (f"its run is queued: the DAG's max_active_runs{limit} runs are running, "
            "or the scheduler has not started it yet")


def not_started_reason(ti: TaskInstanceRow, run: DagRunRow, task: TaskSpec | None,
                       upstream: Mapping[str, str | None], *, dag_paused: bool,
                       max_active_runs: int | None, waiting: str | None = None,
                       now: datetime | None = None) -> str | None:
    """Why ``ti`` is not running now, or None when it runs or has finished.

    ``upstream``: the states of the run's other tasks (task id → state, mapped ones
    summarized); ``waiting``: what a deferred or rescheduled instance waits for
    (``run_views.waiting_text``)."""
    state = ti.state
    if state in FINISHED or state == "running":
        return None
    if state in ("deferred", "up_for_reschedule"):
        what = waiting or "its trigger"
        return f"deferred: waiting for {what}" if state == "deferred" else (
            f"between pokes: waiting for {what}")
    if state == "up_for_retry":
        return (f"retry delay: try {ti.try_number + 1} starts at "
                f"{_at(ti.next_retry_at)}{_in(ti.next_retry_at, now)}")
    if state == "queued":
        return "queued: handed to the executor, its process has not started yet"
    if state == "scheduled":
        return admission_reason(ti.waiting_reason) or "scheduled: about to be queued"
    if state == "restarting":
        return "restarting: the previous try is being stopped"
    # no status: the run or the upstream tasks hold it
    held = run_reason(run, dag_paused=dag_paused, max_active_runs=max_active_runs)
    if held is not None:
        return held
    if run.state in ("success", "failed"):
        return f"its run ended ({run.state}) before it was scheduled"
    return upstream_reason(task, upstream) or "about to be scheduled"
