"""Ending a try: the one place a try becomes success, skipped, failed or up_for_retry.

Every path that ends a try comes here: an executor's final report, an execution timeout, a
trigger's event or timeout, a deferral that cannot run. Ending a try writes the task
instance through its view, records the try in the history, emits the asset events of a
successful task with outlets (in the same transaction; the consumer runs they create are
evaluated in the same batch), frees its slots and its timeout timer, and tells listeners.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler.admission import Slots
from leoflow.engine.scheduler.asset_events import AssetEvents
from leoflow.engine.scheduler.retry import next_retry_at
from leoflow.engine.scheduler.run_views import RunView, RunViews
from leoflow.engine.scheduler.timers import Timers
from leoflow.engine.scheduler.work_items import Batch
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store import task_instances
from leoflow.engine.store.rows import TaskInstanceRow


class Tries:
    """Ends tries (see the module docstring)."""

    def __init__(self, views: RunViews, slots: Slots, timers: Timers,
                 assets: AssetEvents) -> None:
        self._views = views
        self._slots = slots
        self._timers = timers
        self._assets = assets

    def free(self, ti_id: str) -> None:
        """The try no longer holds slots nor runs against its execution_timeout."""
        self._slots.release(ti_id)
        self._timers.cancel(("timeout", ti_id))

    async def finish(self, conn: AsyncConnection, batch: Batch, view: RunView,
                     ti: TaskInstanceRow, task: TaskSpec, state: str, error: str | None, *,
                     no_retry: bool = False, where: Mapping[str, Any] | None = None,
                     retry_delay: float | None = None,
                     outlet_events: list[dict[str, Any]] | None = None) -> None:
        """End the current try: success, skipped, failed, or up_for_retry when tries remain
        (Airflow's ``is_eligible_to_retry``: the task has retries and try ≤ max_tries).
        ``retry_delay`` (seconds) is a retry policy's delay, used instead of the task's."""
        now = batch.now
        changes: dict[str, Any] = dict(where or {})
        if state == "failed" and not no_retry and task.retries > 0 \
                and ti.try_number <= ti.max_tries:
            state = "up_for_retry"
            changes["next_retry_at"] = next_retry_at(
                task, dag_id=ti.dag_id, logical_date=view.run.logical_date,
                try_number=ti.try_number, end_date=now) if retry_delay is None \
                else now + timedelta(seconds=float(retry_delay))
        row = await self._views.write(conn, batch, view, ti, state, **changes)
        await task_instances.record_try_of(conn, row, error=error)
        if state == "success" and task.outlets:  # asset events, in this transaction
            batch.asset_runs.update(await self._assets.record_task_success(
                conn, run=view.run, ti=row, task=task, outlet_events=outlet_events, now=now))
        self.free(ti.id)
        batch.emit("ti.finished", {
            "ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id,
            "map_index": ti.map_index, "state": state, "error": error})
