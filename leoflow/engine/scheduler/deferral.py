"""Waiting without a process: reschedule-mode sensors, deferral, and triggers' events.

A task instance in ``deferred`` holds no executor or pool slot (docs/triggerer.md): a
start-from-trigger sensor (``task.sensor.trigger``) goes there straight from being due, with
no executor; a try that calls ``defer()`` goes there from its agent's report. The trigger
row is written in the same transaction, handed to the runner after the commit
(``batch.trigger_adds``), and the runner's ``TriggerEvent`` comes back as a work item: resume
the same try (``scheduled``, same try_number, ``next_kwargs["event"]``), or end it. Leaving
``deferred`` by any path deletes the trigger row in the transaction that moves the task
instance (``RunViews.write``), so an event applies at most once. ``up_for_reschedule`` frees
the slot too and is due again at its ``next_retry_at`` (the ``not_before`` of the rules),
keeping its try number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler.run_inputs import run_params
from leoflow.engine.scheduler.run_views import WAITING_TI, RunView, RunViews
from leoflow.engine.scheduler.tries import Tries
from leoflow.engine.scheduler.work_items import Batch
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store import dags
from leoflow.engine.store import hitl as hitl_rows
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.engine.triggers import TriggerError, TriggerEvent, resolve_moment, validate
from leoflow.engine.triggers.files import with_base_path
from leoflow.engine.triggers.runner import TenantConnectionLookup

TRIGGER_TIMEOUT_EVENT = {"__leoflow_trigger_timeout__": True}
"""The event a real-Airflow try resumes with when its trigger timed out (the SDK's
``real_airflow_runtime.handoff`` turns it into Airflow's ``__fail__``)."""


class Deferral:
    """Parks tries on triggers and applies the triggers' events (see the docstring).

    ``triggerer_id`` names the runner that will own new trigger rows; ``connection_lookup``
    resolves a FileSensor's connection as its tasks would see it.
    """

    def __init__(self, views: RunViews, tries: Tries, *, triggerer_id: str,
                 connection_lookup: TenantConnectionLookup) -> None:
        self._views = views
        self._tries = tries
        self._triggerer_id = triggerer_id
        self._connection_lookup = connection_lookup

    async def reschedule(self, conn: AsyncConnection, batch: Batch, view: RunView,
                         ti: TaskInstanceRow, info: Mapping[str, Any],
                         where: Mapping[str, Any]) -> None:
        """A reschedule-mode sensor is not done: free its slot until its next poke."""
        now = batch.now
        raw = info.get("reschedule_date")
        when = datetime.fromtimestamp(float(raw), now.tzinfo) if raw else now
        first = ti.first_poke_at or where.get("start_date") or ti.start_date or now
        await self._views.write(conn, batch, view, ti, "up_for_reschedule", **where,
                                next_retry_at=max(when, now), first_poke_at=first)
        self._tries.free(ti.id)
        batch.emit("ti.rescheduled", {
            "ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id,
            "map_index": ti.map_index, "reschedule_date": when.isoformat()})

    async def defer(self, conn: AsyncConnection, batch: Batch, view: RunView,
                    ti: TaskInstanceRow, task: TaskSpec, info: Mapping[str, Any],
                    where: Mapping[str, Any]) -> None:
        """A running try called ``defer()``: park it on its trigger, free its slot."""
        raw = info.get("trigger")
        trigger = raw if isinstance(raw, Mapping) else {}
        timeout = info.get("defer_timeout")
        timeout_at = batch.now + timedelta(seconds=float(timeout)) if timeout else None
        next_kwargs = info.get("next_kwargs")
        try:
            await self._park(conn, batch, view, ti, kind=trigger.get("kind"),
                             kwargs=trigger.get("kwargs") or {}, timeout_at=timeout_at,
                             # a sensor deferring itself (its arguments were only known at
                             # run time) times out as a sensor: no retry, soft_fail skips
                             timeout_kind="sensor" if task.sensor is not None else "defer",
                             changes={
                                 **where,
                                 "next_method": info.get("next_method") or None,
                                 "next_kwargs": dict(next_kwargs)
                                 if isinstance(next_kwargs, Mapping) else {}})
        except TriggerError as exc:
            await self._tries.finish(conn, batch, view, ti, task, "failed",
                                     f"TaskDeferralError: the task deferred to an invalid "
                                     f"trigger: {exc}", where=where)
            return
        self._tries.free(ti.id)

    async def wait_from_start(self, conn: AsyncConnection, batch: Batch, view: RunView,
                              ti: TaskInstanceRow, task: TaskSpec, *, new_try: bool) -> None:
        """A start-from-trigger sensor is due: a try begins in ``deferred``, no executor."""
        sensor = task.sensor
        if sensor is None or sensor.trigger is None:
            raise ValueError(f"task {task.task_id!r} does not wait from its start")
        trigger, now = sensor.trigger, batch.now
        changes: dict[str, Any] = {
            "scheduled_at": now, "start_date": now, "end_date": None, "duration": None,
            "next_retry_at": None, "waiting_reason": None, "executor": None,
            "hostname": None, "pid": None, "next_method": None, "next_kwargs": None,
            "first_poke_at": None}
        if new_try:
            changes["try_number"] = ti.try_number + 1
        timeout = sensor.timeout
        timeout_at = now + timedelta(seconds=float(timeout)) if timeout else None
        # A reschedule-mode sensor shows Airflow's up_for_reschedule while it waits
        waiting = "up_for_reschedule" if sensor.mode == "reschedule" else "deferred"
        try:
            kwargs = trigger.kwargs
            if trigger.kind == "file" and "fs_conn_id" in kwargs:
                kwargs = await self._file_kwargs(conn, view, kwargs)
            await self._park(conn, batch, view, ti, kind=trigger.kind, kwargs=kwargs,
                             timeout_at=timeout_at, timeout_kind="sensor", changes=changes,
                             waiting=waiting)
        except TriggerError as exc:
            row = await self._views.write(conn, batch, view, ti, "deferred", **changes)
            await self._tries.finish(conn, batch, view, row, task, "failed",
                                     f"the sensor's trigger cannot run: {exc}", no_retry=True)

    async def _file_kwargs(self, conn: AsyncConnection, view: RunView,
                           kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """A FileSensor's path under its connection's base path (``files.with_base_path``),
        with the connections its tasks would see: the DAG's env, then its tenant's."""
        dag = await dags.get_dag(conn, view.run.dag_id)
        tenant = dag.tenant if dag is not None else "default"

        async def lookup(conn_id: str) -> Mapping[str, Any] | None:
            return await self._connection_lookup(tenant, conn_id)

        return await with_base_path(kwargs, view.spec.env, lookup)

    async def _park(self, conn: AsyncConnection, batch: Batch, view: RunView,
                    ti: TaskInstanceRow, *, kind: Any, kwargs: Mapping[str, Any],
                    timeout_at: datetime | None, timeout_kind: str,
                    changes: Mapping[str, Any], waiting: str = "deferred"
                    ) -> TaskInstanceRow:
        """Write the trigger and move ``ti`` to ``deferred`` on it (raises ``TriggerError``
        before writing anything when the trigger cannot run)."""
        validate(kind, kwargs)
        now = batch.now
        due_at = None
        if kind == "time":
            due_at = resolve_moment(kwargs, run=view.run, params=run_params(view.spec, view.run),
                                    now=now)
        try_number = int(changes.get("try_number", ti.try_number))
        row = await trigger_rows.create_trigger(
            conn, classpath=str(kind), kwargs=dict(kwargs), task_instance_id=ti.id,
            try_number=try_number, now=now, due_at=due_at, timeout_at=timeout_at,
            timeout_kind=timeout_kind, triggerer_id=self._triggerer_id)
        if kind == "hitl":  # a person answers: Airflow 3.1+'s awaiting_input, same machinery
            waiting = "awaiting_input"
            await hitl_rows.open_request(conn, ti_id=ti.id, try_number=try_number,
                                         request=kwargs, now=now, timeout_at=timeout_at)
        parked = await self._views.write(conn, batch, view, ti, waiting, **changes,
                                         trigger_id=row.id, trigger_timeout=timeout_at)
        batch.trigger_adds.append((row, parked))
        batch.emit("ti.deferred", {
            "ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id,
            "map_index": ti.map_index, "trigger_id": row.id, "kind": row.classpath,
            "state": waiting})
        return parked

    async def apply_event(self, conn: AsyncConnection, batch: Batch,
                          event: TriggerEvent) -> int | None:
        """A trigger fired or timed out: resume the try, or end it. Applied once: the task
        instance must still be deferred on this very trigger (``write`` deletes it).
        Returns the run to evaluate."""
        found = await self._views.ti_view(conn, batch, event.ti_id)
        if found is None or found[1].state not in WAITING_TI \
                or found[1].trigger_id != event.trigger_id \
                or found[1].try_number != event.try_number:
            if await trigger_rows.delete_trigger(conn, event.trigger_id):
                batch.trigger_drops.append(event.trigger_id)
            return None
        view, ti = found
        task = view.spec.task(ti.task_id)
        sensor = task.sensor
        finish = self._tries.finish
        if event.timed_out and task.runtime == "airflow" and ti.next_method:
            # A try of the real Airflow: its own code decides what a trigger timeout means
            # (``resume_execution`` into ``__fail__``: AirflowSensorTimeout, soft_fail, or
            # TaskDeferralTimeout) and its failure callbacks run, as after Airflow's triggerer
            next_kwargs = dict(ti.next_kwargs or {})
            next_kwargs["event"] = dict(TRIGGER_TIMEOUT_EVENT)
            await self._views.write(conn, batch, view, ti, "scheduled",
                                    next_kwargs=next_kwargs, waiting_reason=None)
            return view.run.id
        if event.timed_out:
            if event.timeout_kind == "sensor" and sensor is not None:
                waited = (batch.now - (ti.start_date or batch.now)).total_seconds()
                limit = f" ({sensor.timeout:g} s)" if sensor.timeout is not None else ""
                message = (f"AirflowSensorTimeout: the sensor waited {waited:g} s, longer "
                           f"than its timeout{limit}")
                if sensor.soft_fail:
                    await finish(conn, batch, view, ti, task, "skipped", message)
                else:
                    await finish(conn, batch, view, ti, task, "failed", message, no_retry=True)
            else:
                await finish(conn, batch, view, ti, task, "failed",
                             "TaskDeferralTimeout: the trigger did not fire before the "
                             "deferral's timeout")
            return view.run.id
        payload = dict(event.payload)
        status = payload.get("status")
        if status == "failed":
            await finish(conn, batch, view, ti, task, "failed",
                         f"the trigger reported a failure: {payload.get('reason') or payload}")
        elif status == "skipped":
            await finish(conn, batch, view, ti, task, "skipped",
                         f"the trigger asked to skip: {payload.get('reason') or payload}")
        elif sensor is not None and sensor.trigger is not None:
            await finish(conn, batch, view, ti, task, "success", None)
        else:
            next_kwargs = dict(ti.next_kwargs or {})
            next_kwargs["event"] = payload
            await self._views.write(conn, batch, view, ti, "scheduled",
                                    next_kwargs=next_kwargs, waiting_reason=None)
        return view.run.id
