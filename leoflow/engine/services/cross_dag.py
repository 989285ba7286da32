"""What a task may do to another DAG, carried out by the control plane on its behalf.

A ``TriggerDagRunOperator`` ends its process with a request (a ``dag_run`` trigger, see
``leoflow.sdk.cross_dag``); the trigger runner hands it to ``CrossDagRuns.start``, which
creates the run here, never in the user's process. Three rules:

* **Tenancy**: the DAG to trigger must belong to the requesting DAG's tenant; any other DAG
  is "not found", exactly like one that does not exist (nothing is revealed).
* **Once per request**: the run is created in the same transaction that writes it into the
  trigger row (``kwargs["started"]``). A control plane that stops between the two commits
  nothing; one that stops after finds the row marked and does not create a second run.
  A later try of the task is a new request, as in Airflow (its run id is new unless the
  DAG author fixed ``trigger_run_id``/``logical_date``, which then meets
  ``reset_dag_run``/``skip_when_already_exists``).
* **Airflow's semantics**: the run is ``manual`` (``run_type`` ``operator_triggered`` is
  refused by API clients before 3.3, so it is not emitted) with ``triggered_by=operator``;
  a paused DAG's run waits queued; an existing run (same run id or logical date) is
  cleared with ``reset_dag_run``, skips the task with ``skip_when_already_exists``, else
  fails it.

``clear_marked`` is the other direction: clearing an ``ExternalTaskMarker`` clears the task
it names in the child DAG's run of the same logical date (Airflow's recursive clear).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from leoflow.engine.clock import Clock, SystemClock
from leoflow.engine.scheduler import timetable
from leoflow.engine.services.errors import (
    InvalidOperation,
    RunNotFound,
    ServiceError,
    TaskNotFound,
)
from leoflow.engine.services.operations import Operations, SchedulerHandle, resolve_params
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import DuplicateRunError, Store, audit, dags, runs
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow

log = logging.getLogger("leoflow.cross_dag")

RUN_TYPE = "manual"  # known to every API client; operator_triggered only to 3.3+
TRIGGERED_BY = "operator"
MARKER_OPTION = "external_task_marker"


def _when(text: Any) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"logical_date must carry a time zone, got {text!r}")
    return moment


def _started(run: DagRunRow, *, reset: bool = False) -> dict[str, Any]:
    return {"status": "started", "run_id": run.run_id, "reset": reset,
            "logical_date": run.logical_date.isoformat() if run.logical_date else None}


class CrossDagRuns:
    """Starts the runs ``TriggerDagRunOperator`` tasks ask for (see the module docstring).

    ``scheduler`` is woken for each new or cleared run; ``operations`` clears runs for
    ``reset_dag_run`` (built over the same store and scheduler when not given).
    """

    def __init__(self, store: Store, scheduler: SchedulerHandle, *,
                 clock: Clock | None = None, operations: Operations | None = None) -> None:
        self.store = store
        self.scheduler = scheduler
        self.clock = clock or SystemClock()
        self.operations = operations or Operations(store, scheduler, clock=self.clock)

    async def start(self, trigger_id: int, source_dag_id: str,
                    kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out the request of trigger ``trigger_id``; returns what happened.

        ``{"status": "started", "run_id", "logical_date", "reset"}`` once the run exists
        (the same answer every time it is asked again), ``{"status": "failed" | "skipped",
        "reason"}`` when it cannot or must not be made, ``{"status": "gone"}`` when the
        trigger no longer exists (its task instance was cleared).
        """
        now = self.clock.now()
        async with self.store.begin() as conn:
            row = await trigger_rows.get_trigger(conn, trigger_id)
            if row is None:
                return {"status": "gone"}
            if isinstance(row.kwargs.get("started"), Mapping):
                return dict(row.kwargs["started"])
            outcome, run, reset = await self._create(conn, source_dag_id, kwargs, now)
            if run is None:
                return outcome
            if not reset:
                await trigger_rows.set_trigger_kwargs(conn, trigger_id,
                                                      {**row.kwargs, "started": outcome})
        if not reset:
            self.scheduler.wake_run(run.id)
            return outcome
        # reset_dag_run: clear every task instance of the existing run (it runs again),
        # then record the request as done. Stopping between the two clears it once more.
        await self.operations.clear_task_instances(run.dag_id, run.run_id,
                                                   user=f"task of {source_dag_id}")
        outcome = _started(run, reset=True)
        async with self.store.begin() as conn:
            row = await trigger_rows.get_trigger(conn, trigger_id)
            if row is None:
                return {"status": "gone"}
            await trigger_rows.set_trigger_kwargs(conn, trigger_id,
                                                  {**row.kwargs, "started": outcome})
        return outcome

    async def trigger(self, source_dag_id: str, kwargs: Mapping[str, Any], *,
                      requested_by: str | None = None) -> dict[str, Any]:
        """Create the run a task of ``source_dag_id`` asks for at once (the real Airflow's
        task runner: its ``TriggerDagRun`` request), with the rules of ``start``.

        Answers as ``start`` does; a run that exists already (and ``reset_dag_run`` is not
        set) is ``{"status": "failed", "already_exists": True, "reason"}``. The task's
        try is the request: a later try asks again, as Airflow's does. ``requested_by``
        names the try (task instance and try number): the same try asking again (its agent
        retried a call whose answer was lost) is told its run started, not that it exists.
        """
        async with self.store.begin() as conn:
            outcome, run, reset = await self._create(conn, source_dag_id, kwargs,
                                                     self.clock.now(),
                                                     requested_by=requested_by)
        if run is None:
            return outcome
        if not reset:
            self.scheduler.wake_run(run.id)
            return outcome
        await self.operations.clear_task_instances(run.dag_id, run.run_id,
                                                   user=f"task of {source_dag_id}")
        return _started(run, reset=True)

    async def _create(self, conn: Any, source_dag_id: str, kwargs: Mapping[str, Any],
                      now: datetime, *, requested_by: str | None = None
                      ) -> tuple[dict[str, Any], DagRunRow | None, bool]:
        """The run ``kwargs`` asks for, in ``conn``'s transaction: ``(outcome, run,
        reset)``. ``run`` is the new run (``outcome`` says it started), the existing one to
        clear (``reset``), or ``None`` with the refusal in ``outcome``."""
        dag_id = str(kwargs.get("trigger_dag_id") or "")
        run_id = str(kwargs.get("run_id") or "")
        try:
            logical_date = _when(kwargs.get("logical_date"))
            run_after = _when(kwargs.get("run_after"))
        except ValueError as exc:
            return {"status": "failed", "reason": str(exc)}, None, False
        conf = kwargs.get("conf") or {}
        source = await dags.get_dag(conn, source_dag_id)
        tenant = source.tenant if source is not None else "default"
        target = await dags.get_dag(conn, dag_id)
        if target is None or target.tenant != tenant:
            return ({"status": "failed", "not_found": True,
                     "reason": f"Dag id {dag_id} not found"}, None, False)
        if target.is_paused and kwargs.get("fail_when_dag_is_paused"):
            return {"status": "failed", "reason": f"Dag {dag_id} is paused"}, None, False
        version = await dags.current_version(conn, dag_id)
        if version is None:
            return ({"status": "failed",
                     "reason": f"Dag {dag_id} has no registered version yet"}, None, False)
        spec = DagSpec.from_json(version.spec)
        try:
            resolve_params(spec, conf)
        except ServiceError as exc:
            return ({"status": "failed", "reason": f"conf for Dag {dag_id}: {exc}"}, None,
                    False)
        interval = timetable.manual_data_interval(spec.schedule, logical_date)
        try:
            run = await runs.create_run(
                conn, dag_id=dag_id, run_id=run_id, run_type=RUN_TYPE,
                dag_version_id=version.id, run_after=run_after or logical_date or now,
                logical_date=logical_date,
                data_interval_start=interval.start if interval else None,
                data_interval_end=interval.end if interval else None, conf=dict(conf),
                triggered_by=TRIGGERED_BY, note=kwargs.get("note"), now=now)
        except DuplicateRunError as exc:
            existing = await self._existing(conn, dag_id, run_id, logical_date)
            if existing is None:  # it vanished meanwhile: let the next poll try again
                raise
            if kwargs.get("reset_dag_run"):
                return _started(existing, reset=True), existing, True
            if requested_by and await _created_by(conn, existing, requested_by):
                return _started(existing), existing, False
            which = (f"run id {run_id}" if exc.field == "run_id"
                     else f"logical date {logical_date}")
            reason = f"A Dag Run already exists for Dag {dag_id} with {which}"
            if kwargs.get("skip_when_already_exists"):
                return {"status": "skipped", "reason": "Skipping due to "
                        "skip_when_already_exists is set to True and "
                        f"DagRunAlreadyExists ({reason})"}, None, False
            return ({"status": "failed", "already_exists": True,
                     "reason": f"DagRunAlreadyExists: {reason}"}, None, False)
        extra: dict[str, Any] = {"by_dag_id": source_dag_id}
        if conf:
            extra["conf"] = dict(conf)
        if requested_by:
            extra["by_try"] = requested_by
        await audit.record_event(conn, "trigger", dag_id=dag_id, run_id=run.run_id,
                                 occurred_at=now, extra=extra)
        return _started(run), run, False

    async def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of a run this service started (``None`` if it was deleted)."""
        async with self.store.connect() as conn:
            run = await runs.get_run(conn, dag_id, run_id)
        return None if run is None else str(run.state)

    @staticmethod
    async def _existing(conn: Any, dag_id: str, run_id: str,
                        logical_date: datetime | None) -> DagRunRow | None:
        found = await runs.get_run(conn, dag_id, run_id)
        if found is None and logical_date is not None:
            page = await runs.list_runs(conn, dag_id=dag_id, logical_date_gte=logical_date,
                                        logical_date_lte=logical_date, limit=1)
            found = page.items[0] if page.items else None
        return found


async def _created_by(conn: Any, run: DagRunRow, requested_by: str) -> bool:
    """Whether the try ``requested_by`` created ``run`` (its trigger event says so)."""
    page = await audit.list_events(conn, dag_id=run.dag_id, run_id=run.run_id,
                                   event="trigger", limit=10)
    return any((row.extra or {}).get("by_try") == requested_by for row in page.items)


# -- ExternalTaskMarker -------------------------------------------------------------------------
# Levels of markers left while a clear follows them (None: not inside a marker's clear).
_depth_left: ContextVar[int | None] = ContextVar("leoflow_marker_depth", default=None)


def _markers(spec: DagSpec, cleared: list[TaskInstanceRow]
             ) -> list[tuple[TaskInstanceRow, Mapping[str, Any]]]:
    found = []
    for ti in cleared:
        if ti.task_id in spec.task_ids:
            marker = spec.task(ti.task_id).options.get(MARKER_OPTION)
            if isinstance(marker, Mapping):
                found.append((ti, marker))
    return found


async def check_marked(operations: Operations, dag_id: str, run_id: str,
                       task_ids: Any, *, user: str | None, **options: Any) -> None:
    """Before a clear writes anything: follow its markers as a dry run, so that a chain
    deeper than ``recursion_depth`` fails the clear as a whole (Airflow's rule)."""
    if _depth_left.get() is not None:
        return  # inside a marker's clear: the first level checked the whole chain
    planned = await operations._clear_run(dag_id, run_id, task_ids, dry_run=True, user=user,
                                          **options)
    if planned:
        await clear_marked(operations, dag_id, run_id, planned, dry_run=True, user=user)


async def clear_marked(operations: Operations, dag_id: str, run_id: str,
                       cleared: list[TaskInstanceRow], *, dry_run: bool, user: str | None
                       ) -> list[TaskInstanceRow]:
    """Clear, in child DAGs, the tasks that the cleared ``ExternalTaskMarker`` s name.

    For each marker among ``cleared``: the child DAG's run at the marker's logical date (the
    parent run's own by default) has the named task cleared with its downstream tasks, and
    markers cleared there recurse. ``recursion_depth`` counts levels from the first marker;
    going deeper fails the clear, as in Airflow (a cycle of markers ends there too). A child
    DAG of another tenant, or one without such a run, is passed over.
    """
    if not cleared:
        return []
    async with operations.store.connect() as conn:
        run = await runs.get_run(conn, dag_id, run_id)
        version = await dags.get_version(conn, run.dag_version_id) if run else None
    if run is None or version is None:
        return []
    extra: list[TaskInstanceRow] = []
    for ti, marker in _markers(DagSpec.from_json(version.spec), cleared):
        left = _depth_left.get()
        depth = int(marker.get("recursion_depth") or 10) if left is None else left
        if depth <= 0:
            raise InvalidOperation(
                f"Maximum recursion depth reached for ExternalTaskMarker {ti.task_id} of Dag "
                f"{dag_id}. Attempted to clear too many tasks or there may be a cyclic "
                "dependency.", field="task_ids")
        child_dag = str(marker.get("external_dag_id"))
        when = _when(marker.get("logical_date")) or run.logical_date
        if when is None:
            continue  # a run without a logical date has no counterpart in the child
        child_run = await _child_run(operations, dag_id, child_dag, when)
        if child_run is None:
            continue
        token = _depth_left.set(depth - 1)
        try:
            extra += await operations.clear_task_instances(
                child_dag, child_run.run_id, [str(marker.get("external_task_id"))],
                include_downstream=True, dry_run=dry_run, user=user)
        except (RunNotFound, TaskNotFound) as exc:
            log.warning("ExternalTaskMarker %s of %s: %s", ti.task_id, dag_id, exc)
        finally:
            _depth_left.reset(token)
    return extra


async def _child_run(operations: Operations, parent_dag: str, child_dag: str,
                     when: datetime) -> DagRunRow | None:
    async with operations.store.connect() as conn:
        parent = await dags.get_dag(conn, parent_dag)
        child = await dags.get_dag(conn, child_dag)
        if child is None or parent is None or child.tenant != parent.tenant:
            return None
        page = await runs.list_runs(conn, dag_id=child_dag, logical_date_gte=when,
                                    logical_date_lte=when, limit=1)
    return page.items[0] if page.items else None
