"""What users do to DAGs and runs: register, trigger, pause, clear, mark, delete.

Every operation checks its input before writing anything, writes in one transaction that
includes an audit row (who, what, when), and then wakes the scheduler, which does the rest
(it is the only one that moves task instances forward).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.clock import Clock, SystemClock
from leoflow.engine.scheduler import timetable
from leoflow.engine.scheduler.setup_teardown import SetupTeardownGraph
from leoflow.engine.scheduler.states import DagRunType
from leoflow.engine.services import assets
from leoflow.engine.services.errors import (
    DagHasImportErrors,
    DagNotFound,
    DagPausedError,
    DagStale,
    InvalidArgument,
    InvalidConf,
    InvalidOperation,
    InvalidParams,
    RunAlreadyExists,
    RunNotFound,
    TaskNotFound,
)
from leoflow.engine.services.limits import MAX_CONF_BYTES, check_json_size
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import (
    DuplicateRunError,
    Store,
    audit,
    dags,
    listings,
    runs,
    task_instances,
)
from leoflow.engine.store.rows import DagRow, DagRunRow, DagVersionRow, TaskInstanceRow
from leoflow.engine.store.task_instances import NewTaskInstance
from leoflow.errors import InvariantError

FINISHED_TI = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
IN_FLIGHT_TI = frozenset({"queued", "running"})
MARKABLE_TI = frozenset({"success", "failed", "skipped"})
SPEC_CACHE_SIZE = 64


class SchedulerHandle(Protocol):
    """The part of the scheduler the operations need (the loop implements it)."""

    def wake_run(self, dag_run_id: int) -> None: ...

    def wake_dag(self, dag_id: str) -> None: ...

    async def cancel_task(self, ti_id: str, executor: str | None, reason: str,
                          try_number: int | None = None) -> None: ...


class Operations:
    """The service layer over the store and the scheduler."""

    def __init__(self, store: Store, scheduler: SchedulerHandle, *,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.scheduler = scheduler
        self.clock = clock or SystemClock()
        self._specs: dict[str, DagSpec] = {}

    # -- DAGs ------------------------------------------------------------------------------
    async def register_dag(self, document: Mapping[str, Any], *, source_code: str | None = None,
                           fileloc: str | None = None, user: str | None = None,
                           paused_on_create: bool = True, tenant: str = "default",
                           draft: bool = False) -> DagVersionRow:
        """Store a compiled dag.json; returns its version (the existing one if unchanged).

        A DAG belongs to the tenant that first registered it; another tenant cannot take
        its id over (``InvalidOperation``, without saying whose it is). A ``draft`` (a
        save, registered by hot reload) replaces the DAG's previous draft unless a run
        pinned it; a push (not a draft) is kept: a DAG keeps the versions that ran or were
        pushed, numbered in that order (``store.dags.register_version``).
        """
        dag_id = document["dag_id"]
        async with self.store.begin() as conn:
            existing = await dags.get_dag(conn, dag_id)
            if existing is not None and existing.tenant != tenant:
                raise InvalidOperation(f"dag_id {dag_id!r} is not available; choose another",
                                       field="dag_id")
            await dags.upsert_dag(conn, dag_id, fileloc=fileloc or document.get("fileloc"),
                                  tenant=tenant, paused_on_create=paused_on_create,
                                  now=self.clock.now())
            before = await dags.current_version(conn, dag_id)
            version = await dags.register_version(conn, dag_id, document, source_code,
                                                  now=self.clock.now(), draft=draft)
            await assets.register_dag_assets(conn, tenant=tenant if existing is None
                                             else existing.tenant, dag_id=dag_id,
                                             spec=self._spec(version), now=self.clock.now())
            if before is None or before.id != version.id:
                await audit.record_event(conn, "register_version", username=user,
                                         dag_id=dag_id, occurred_at=self.clock.now(),
                                         extra={"version_number": version.version_number,
                                                "content_hash": version.content_hash,
                                                "draft": version.is_draft})
        self.scheduler.wake_dag(dag_id)
        return version

    async def set_paused(self, dag_id: str, paused: bool, *, user: str | None = None) -> DagRow:
        """Pause (no new runs start) or unpause (runs resume; missed ones per catchup)."""
        async with self.store.begin() as conn:
            await self._dag(conn, dag_id)
            row = await dags.set_paused(conn, dag_id, paused)
            await audit.record_event(conn, "pause" if paused else "unpause", username=user,
                                     dag_id=dag_id, occurred_at=self.clock.now())
            # A paused DAG's runs wait (queued ones do not start, running ones schedule no
            # new task, as in Airflow); unpausing wakes them all.
            waiting = [] if paused else (await runs.list_runs(
                conn, dag_id=dag_id, state=["queued", "running"], limit=None,
                order="id")).items
        self.scheduler.wake_dag(dag_id)
        for run in waiting:
            self.scheduler.wake_run(run.id)
        return row

    async def delete_dag_history(self, dag_id: str, *, user: str | None = None) -> int:
        """Delete every run of the DAG (with task instances, tries and XComs); keep the DAG
        and its versions. Returns how many runs were deleted."""
        async with self.store.begin() as conn:
            await self._dag(conn, dag_id)
            in_flight = (await task_instances.list_task_instances(
                conn, dag_id=dag_id, state=list(IN_FLIGHT_TI), limit=None)).items
            count = await runs.delete_runs_for_dag(conn, dag_id)
            await audit.record_event(conn, "delete_dag_history", username=user, dag_id=dag_id,
                                     occurred_at=self.clock.now(), extra={"runs": count})
        for ti in in_flight:
            await self.scheduler.cancel_task(ti.id, ti.executor, "deleted",
                                              try_number=ti.try_number)
        self.scheduler.wake_dag(dag_id)
        return count

    # -- runs ------------------------------------------------------------------------------
    async def trigger_run(self, dag_id: str, *, conf: Any = None,
                          logical_date: datetime | None = None, run_id: str | None = None,
                          note: str | None = None, user: str | None = None,
                          triggered_by: str = "rest_api", allow_paused: bool = False,
                          run_type: DagRunType = DagRunType.MANUAL,
                          partition_key: str | None = None,
                          data_interval: timetable.DataInterval | None = None) -> DagRunRow:
        """Create a manual run (state queued). Validates conf and params first.

        A stale DAG (``DagStale``) or one with import errors (``DagHasImportErrors``) is
        refused here, for every face that triggers (API, IDE, CLI, asset materialize).
        ``allow_paused`` keeps Airflow's API behaviour (the run waits, queued, until the DAG
        is unpaused); without it a paused DAG is refused with ``DagPausedError``.
        ``run_type`` ``asset_materialization``: a run asked for through an asset it produces
        (``POST /assets/{id}/materialize``); ``partition_key``: the partition it works on.
        ``data_interval``: the one the timetable gives a run of that logical date (a
        backfill's), instead of a manual run's inferred one.
        """
        if conf is None:
            conf = {}
        if not isinstance(conf, dict):
            raise InvalidConf(f"conf must be a JSON object, got {type(conf).__name__}",
                              field="conf")
        # every face (API, IDE trigger form, CLI) gets the same bound
        check_json_size(conf, "conf", MAX_CONF_BYTES)
        if logical_date is not None and logical_date.tzinfo is None:
            raise InvalidArgument("logical_date must be timezone-aware (e.g. end with Z)",
                                  field="logical_date")
        now = self.clock.now()
        async with self.store.begin() as conn:
            dag = await self._dag(conn, dag_id)
            await refuse_untriggerable(conn, dag)
            if dag.is_paused and not allow_paused:
                raise DagPausedError(dag_id)
            version = await dags.current_version(conn, dag_id)
            if version is None:
                raise InvalidOperation(f"DAG {dag_id!r} has no registered version yet")
            spec = self._spec(version)
            resolve_params(spec, conf)
            check_partition_key(spec, partition_key)
            interval = data_interval or timetable.manual_data_interval(spec.schedule,
                                                                       logical_date)
            try:
                run = await runs.create_run(
                    conn, dag_id=dag_id,
                    run_id=run_id or timetable.run_id(run_type, now),
                    run_type=DagRunType(run_type).value, dag_version_id=version.id,
                    run_after=now, partition_key=partition_key,
                    logical_date=logical_date,
                    data_interval_start=interval.start if interval else None,
                    data_interval_end=interval.end if interval else None,
                    conf=conf, triggered_by=triggered_by, triggering_user_name=user,
                    note=note, now=now)
            except DuplicateRunError as exc:
                raise RunAlreadyExists(dag_id, exc.field, str(exc)) from exc
            await audit.record_event(conn, "trigger", username=user, dag_id=dag_id,
                                     run_id=run.run_id, occurred_at=now,
                                     extra={"conf": conf} if conf else None)
        self.scheduler.wake_run(run.id)
        return run

    async def mark_run(self, dag_id: str, run_id: str, state: str, *,
                       user: str | None = None) -> DagRunRow:
        """Mark a run success (its unfinished tasks succeed) or failed (in-flight tasks fail,
        the others are skipped), as Airflow does."""
        if state not in ("success", "failed"):
            raise InvalidArgument(f"a run can be marked success or failed, not {state!r}",
                                  field="state")
        now = self.clock.now()
        async with self.store.begin() as conn:
            run = await self._run(conn, dag_id, run_id)
            await runs.mark_changed(conn, run.id)
            in_flight = []
            for ti in await task_instances.list_for_run(conn, run.id):
                if ti.state in FINISHED_TI:
                    continue
                if ti.state in IN_FLIGHT_TI:
                    in_flight.append(ti)
                target = state if state == "success" or ti.state in IN_FLIGHT_TI else "skipped"
                await task_instances.set_task_state(conn, ti.id, target, now=now)
                if ti.state in IN_FLIGHT_TI:
                    await task_instances.record_try(conn, ti.id,
                                                    error=f"the run was marked {state}")
            row = await runs.update_run_state(conn, run.id, state, now=now)
            await audit.record_event(conn, f"mark_run_{state}", username=user, dag_id=dag_id,
                                     run_id=run_id, occurred_at=now)
        for ti in in_flight:
            await self.scheduler.cancel_task(ti.id, ti.executor, f"run marked {state}",
                                              try_number=ti.try_number)
        self.scheduler.wake_run(run.id)
        return row

    async def delete_run(self, dag_id: str, run_id: str, *, user: str | None = None) -> None:
        async with self.store.begin() as conn:
            run = await self._run(conn, dag_id, run_id)
            in_flight = await task_instances.list_for_run(conn, run.id, state=IN_FLIGHT_TI)
            await runs.delete_run(conn, dag_id, run_id)
            await audit.record_event(conn, "delete_run", username=user, dag_id=dag_id,
                                     run_id=run_id, occurred_at=self.clock.now())
        for ti in in_flight:
            await self.scheduler.cancel_task(ti.id, ti.executor, "run deleted",
                                              try_number=ti.try_number)
        # Its run slot is free: runs waiting for max_active_runs may start.
        self.scheduler.wake_dag(dag_id)

    # -- task instances ----------------------------------------------------------------------
    async def clear_task_instances(
        self, dag_id: str, run_id: str, task_ids: Iterable[str] | None = None, *,
        dry_run: bool = False, user: str | None = None, **options: Any,
    ) -> list[TaskInstanceRow]:
        """Clear task instances of one run (``_clear_run``), then what the cleared
        ``ExternalTaskMarker`` s name in their child DAGs (``cross_dag.clear_marked``)."""
        from leoflow.engine.services.cross_dag import check_marked, clear_marked

        if not dry_run:  # a marker chain too deep fails the clear before anything is written
            await check_marked(self, dag_id, run_id, task_ids, user=user, **options)
        cleared = await self._clear_run(dag_id, run_id, task_ids, dry_run=dry_run, user=user,
                                        **options)
        return cleared + await clear_marked(self, dag_id, run_id, cleared, dry_run=dry_run,
                                            user=user)

    async def _clear_run(
        self, dag_id: str, run_id: str, task_ids: Iterable[str] | None = None, *,
        map_indexes: Iterable[int] | None = None, include_downstream: bool = False,
        include_upstream: bool = False, only_failed: bool = False, dry_run: bool = False,
        user: str | None = None, exact: bool = False,
    ) -> list[TaskInstanceRow]:
        """Clear task instances so they run again; returns those (to be) cleared.

        Cleared instances lose their state, keep their try_number and get
        ``max_tries = try_number + retries`` (Airflow's rule). The run returns to queued and
        is re-pinned to the DAG's current version: tasks new in that version get instances,
        instances of tasks it no longer has become ``removed``.

        As in Airflow, clearing a task also clears the setups it runs within and their
        teardowns, and clearing a setup clears its teardowns (``setup_teardown``);
        ``exact=True`` clears ``task_ids`` only (a caller that selected them already).
        """
        now = self.clock.now()
        async with self.store.begin() as conn:
            run = await self._run(conn, dag_id, run_id)
            old = await dags.get_version(conn, run.dag_version_id)
            if old is None:  # runs reference their version (foreign key)
                raise InvariantError(f"DAG run {dag_id}/{run_id} references DAG version "
                                     f"{run.dag_version_id}, which is not stored")
            spec = self._spec(old)
            chosen = list(task_ids) if task_ids is not None else list(spec.task_ids)
            unknown = [t for t in chosen if t not in spec.task_ids]
            if unknown:
                raise TaskNotFound(dag_id, unknown)
            selected = set(chosen)
            if not exact:
                selected = SetupTeardownGraph.of(spec).clear_selection(
                    chosen, upstream=include_upstream, downstream=include_downstream)
            indexes = set(map_indexes) if map_indexes is not None else None
            tis = [ti for ti in await task_instances.list_for_run(conn, run.id)
                   if ti.task_id in selected
                   and (indexes is None or ti.map_index in indexes or ti.task_id not in chosen)
                   and (not only_failed or ti.state in ("failed", "upstream_failed"))]
            if dry_run or not tis:
                return tis
            await runs.mark_changed(conn, run.id)
            current = await dags.current_version(conn, dag_id)
            new_spec = self._spec(current) if current else spec
            cleared = []
            for ti in tis:
                if ti.task_id not in new_spec.task_ids:
                    continue
                retries = new_spec.task(ti.task_id).retries
                row = await task_instances.update_task_instance(
                    conn, ti.id, state=None, max_tries=ti.try_number + retries,
                    next_retry_at=None, waiting_reason=None, end_date=None, duration=None)
                cleared.append(row or ti)
            await self._repin(conn, run, new_spec, current.id if current else run.dag_version_id)
            await runs.update_run_state(conn, run.id, "queued", now=now)
            await audit.record_event(conn, "clear", username=user, dag_id=dag_id,
                                     run_id=run_id, occurred_at=now,
                                     extra={"task_ids": sorted({t.task_id for t in tis}),
                                            "only_failed": only_failed,
                                            "include_downstream": include_downstream,
                                            "include_upstream": include_upstream})
        for ti in tis:
            if ti.state in IN_FLIGHT_TI:
                await self.scheduler.cancel_task(ti.id, ti.executor, "cleared",
                                                  try_number=ti.try_number)
        self.scheduler.wake_run(run.id)
        return cleared

    async def mark_task_instance(self, dag_id: str, run_id: str, task_id: str, state: str, *,
                                 map_index: int = -1, user: str | None = None
                                 ) -> TaskInstanceRow:
        """Set a task instance's state by hand (success, failed or skipped)."""
        if state not in MARKABLE_TI:
            raise InvalidArgument(
                f"a task instance can be marked success, failed or skipped, not {state!r}",
                field="new_state")
        now = self.clock.now()
        async with self.store.begin() as conn:
            run = await self._run(conn, dag_id, run_id)
            ti = await task_instances.get_task_instance(conn, run.id, task_id, map_index)
            if ti is None:
                raise TaskNotFound(dag_id, [task_id if map_index < 0
                                            else f"{task_id}[{map_index}]"])
            await runs.mark_changed(conn, run.id)
            row = await task_instances.set_task_state(conn, ti.id, state, now=now)
            if row is None:  # deleted by another transaction since it was read
                raise TaskNotFound(dag_id, [task_id if map_index < 0
                                            else f"{task_id}[{map_index}]"])
            if ti.state in IN_FLIGHT_TI:
                await task_instances.record_try(conn, ti.id, error=f"marked {state} by a user")
            consumer_runs: list[int] = []
            if state == "success" and ti.state != "success":
                # its outlets' asset events, as Airflow emits them (clearing emits none)
                version = await dags.get_version(conn, run.dag_version_id)
                task = self._spec(version).task(task_id) if version else None
                if task is not None and task.outlets:
                    consumer_runs = await assets.record_task_success(
                        conn, run=run, ti=row, task=task, outlet_events=None, now=now)
            if run.state in ("success", "failed"):
                await runs.update_run_state(conn, run.id, "running", now=now)
            await audit.record_event(conn, f"mark_task_{state}", username=user, dag_id=dag_id,
                                     run_id=run_id, task_id=task_id, map_index=map_index,
                                     try_number=ti.try_number, occurred_at=now)
        if ti.state in IN_FLIGHT_TI:
            await self.scheduler.cancel_task(ti.id, ti.executor, f"marked {state}",
                                              try_number=ti.try_number)
        self.scheduler.wake_run(run.id)
        for consumer_run in consumer_runs:
            self.scheduler.wake_run(consumer_run)
        return row

    # -- helpers -------------------------------------------------------------------------------
    async def _dag(self, conn: AsyncConnection, dag_id: str) -> DagRow:
        dag = await dags.get_dag(conn, dag_id)
        if dag is None:
            raise DagNotFound(dag_id)
        return dag

    def _spec(self, version: DagVersionRow) -> DagSpec:
        """The parsed spec of a version (immutable, so parsed once per version)."""
        spec = self._specs.get(version.id)
        if spec is None:
            if len(self._specs) >= SPEC_CACHE_SIZE:
                self._specs.pop(next(iter(self._specs)))
            spec = self._specs[version.id] = DagSpec.from_json(version.spec)
        return spec

    async def _run(self, conn: AsyncConnection, dag_id: str, run_id: str) -> DagRunRow:
        await self._dag(conn, dag_id)
        run = await runs.get_run(conn, dag_id, run_id)
        if run is None:
            raise RunNotFound(dag_id, run_id)
        return run

    async def _repin(self, conn: AsyncConnection, run: DagRunRow, spec: DagSpec,
                     version_id: str) -> None:
        if version_id == run.dag_version_id:
            return
        await runs.set_run_version(conn, run.id, version_id)
        existing = await task_instances.list_for_run(conn, run.id)
        have = {ti.task_id for ti in existing}
        for ti in existing:
            if ti.task_id not in spec.task_ids and ti.state != "removed":
                await task_instances.update_task_instance(conn, ti.id, state="removed")
        new = [NewTaskInstance(task_id=t.task_id, max_tries=t.retries, operator=t.operator,
                               pool=t.pool, pool_slots=t.pool_slots,
                               priority_weight=t.priority_weight)
               for t in spec.tasks if t.task_id not in have]
        await task_instances.create_task_instances(conn, run, new)


async def refuse_untriggerable(conn: AsyncConnection, dag: DagRow) -> None:
    """Airflow 3's rule for a new run: not of a stale DAG (its file is gone or no longer
    defines it), not of a DAG with import errors."""
    if dag.is_stale:
        raise DagStale(dag.dag_id)
    if await listings.dags_with_import_errors(conn, [dag.dag_id]):
        raise DagHasImportErrors(dag.dag_id)


PARTITION_KEY_LEN = 250  # Airflow's ID_LEN


def check_partition_key(spec: DagSpec, partition_key: str | None) -> None:
    """A run's partition key, refused with Airflow's words (its API answers 400) unless the
    DAG is partitioned (``schedule.partition``) and the key is a non-blank string of at most
    250 characters."""
    if partition_key is None:
        return
    if not spec.schedule.partition:
        raise InvalidArgument(f"Dag '{spec.dag_id}' is not a partitioned Dag and does not "
                              "accept a partition_key.", field="partition_key")
    if not partition_key.strip():
        raise InvalidArgument("partition_key must not be empty or whitespace-only.",
                              field="partition_key")
    if len(partition_key) > PARTITION_KEY_LEN:
        raise InvalidArgument(f"partition_key must be at most {PARTITION_KEY_LEN} characters; "
                              f"got {len(partition_key)}.", field="partition_key")


def resolve_params(spec: DagSpec, conf: Mapping[str, Any]) -> dict[str, Any]:
    """The run's params: defaults overridden by conf, each checked against its schema.

    Raises ``InvalidParams`` naming the param (``field="conf.<name>"``).
    """
    from jsonschema import Draft202012Validator

    params: dict[str, Any] = {}
    for name, param in spec.params.items():
        if name in conf:
            value = conf[name]
        elif "default" in param:
            value = param["default"]
        else:
            # Airflow's words (its API answers 400 with them): the param has no default
            # and the trigger's conf does not give it
            raise InvalidParams(f"Invalid input for param {name}: No value passed",
                                field=f"conf.{name}")
        schema = param.get("schema") or {}
        if schema and value is not None:
            errors = sorted(Draft202012Validator(schema).iter_errors(value), key=str)
            if errors:
                raise InvalidParams(f"param {name!r}: {errors[0].message}",
                                    field=f"conf.{name}")
        params[name] = value
    return params
