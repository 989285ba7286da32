"""Backfills: runs for the logical dates of a DAG's timetable in a range, as Airflow 3's
``POST /backfills`` makes them.

The rules:

* the dates are the timetable's (``scheduler.timetable``): a cron or timedelta schedule's
  logical dates from ``from_date`` to ``to_date`` inclusive whose interval has ended (at
  most ``MAX_DATES``), each run with the data interval the scheduler would give it; a DAG
  without such a schedule, or a partitioned one, cannot be backfilled (422, as Airflow's
  non-periodic schedules); a range wholly in the future, a reversed one or one holding no
  date is refused (422, Airflow's messages);
* ``reprocess_behavior`` says what a date that already has a run gets: ``none`` leaves it,
  ``failed`` clears a failed run, ``completed`` clears a finished run (the whole run, as
  Airflow's ``dag.clear``);
  a queued or running run is always left alone (a backfill whose every date is left alone
  is created completed, as Airflow's);
* the runs start a few at a time: at most ``max_active_runs`` of the backfill's runs are
  queued or running (and the DAG's own ``max_active_runs`` still holds, as the scheduler
  applies it to every run); the next date starts when one of them ends (``feed``, called
  when a run finishes and on every backfill request), newest first with ``run_backwards``;
* a paused backfill starts no new run (those already started go on); cancelling marks its
  queued runs failed and starts nothing more; a backfill whose dates all ran is completed;
* one backfill at a time per DAG (409), and only in the caller's tenant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from leoflow.engine.scheduler import timetable
from leoflow.engine.scheduler.states import DagRunType
from leoflow.engine.services.errors import RunAlreadyExists, ServiceError
from leoflow.engine.services.operations import Operations
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import Store, dags
from leoflow.engine.store.tables import backfill, backfill_date, dag, dag_run
from leoflow.engine.store.types import utcnow

log = logging.getLogger(__name__)
MAX_DATES = 1000
ACTIVE = ("queued", "running")
FINISHED = ("success", "failed")
REPROCESS = ("none", "failed", "completed")
_locks: dict[int, asyncio.Lock] = {}


class BackfillNotFound(ServiceError):
    status = 404


class BackfillConflict(ServiceError):
    status = 409


class BackfillRefused(ServiceError):
    status = 422


@dataclass(frozen=True)
class Backfill:
    id: int
    dag_id: str
    from_date: datetime
    to_date: datetime
    dag_run_conf: dict[str, Any] | None
    is_paused: bool
    reprocess_behavior: str
    max_active_runs: int
    run_backwards: bool
    triggering_user_name: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


async def _spec(conn: Any, dag_id: str, tenant: str) -> DagSpec:
    row = (await conn.execute(select(dag).where(dag.c.dag_id == dag_id,
                                                dag.c.tenant == tenant))).first()
    if row is None:
        raise BackfillNotFound(f"Could not find dag {dag_id}")
    version = await dags.current_version(conn, dag_id)
    if version is None:
        raise BackfillRefused(f"Dag {dag_id} has no registered version yet")
    return DagSpec.from_json(version.spec)


def run_infos(spec: DagSpec, from_date: datetime, to_date: datetime, now: datetime
              ) -> list[timetable.RunInfo]:
    """The timetable's runs with a logical date in ``[from_date, to_date]`` whose interval
    ended by ``now``, oldest first (Airflow's ``_get_info_list``)."""
    schedule = spec.schedule
    if schedule.kind not in ("cron", "timedelta"):
        raise BackfillRefused(f"{spec.dag_id} has a non-periodic schedule that does not "
                              f"support backfills (schedule: {schedule.kind})")
    if schedule.partition:
        raise BackfillRefused(f"{spec.dag_id} is partitioned: Leoflow does not backfill "
                              "partitions yet; trigger a run per partition_key instead")
    if from_date > to_date:
        raise BackfillRefused(f"from_date ({from_date.isoformat()}) must not be after "
                              f"to_date ({to_date.isoformat()}).")
    if from_date >= now and to_date >= now:
        raise BackfillRefused("Backfill cannot be executed for future dates.")
    infos = timetable.runs_between(
        schedule, start_date=from_date, end_date=to_date, last_logical_date=None,
        now=now, catchup=True, limit=MAX_DATES + 1)
    found = [i for i in infos if from_date <= i.logical_date <= to_date
             and i.data_interval.end < now]
    if len(found) > MAX_DATES:
        raise BackfillRefused(f"the range holds more than {MAX_DATES} runs; split it")
    if not found:
        raise BackfillRefused(f"No runs to create for Dag {spec.dag_id} in the range "
                              f"[{from_date.isoformat()}, {to_date.isoformat()}]")
    return found


def logical_dates(spec: DagSpec, from_date: datetime, to_date: datetime, now: datetime
                  ) -> list[datetime]:
    """The logical dates of ``run_infos``."""
    return [i.logical_date for i in run_infos(spec, from_date, to_date, now)]


def _reprocesses(behavior: str, state: str | None) -> bool:
    """Whether a date whose run is in ``state`` gets it again (Airflow's
    ``_get_dag_run_no_create_reason``): never a queued or running one."""
    if state not in FINISHED:
        return False
    return behavior == "completed" or (behavior == "failed" and state == "failed")


async def _plan(conn: Any, dag_id: str, dates: list[datetime], reprocess: str
                ) -> list[datetime]:
    """The dates that get a run (new, or an existing one cleared) under ``reprocess``."""
    rows = (await conn.execute(select(dag_run.c.logical_date, dag_run.c.state).where(
        dag_run.c.dag_id == dag_id, dag_run.c.logical_date.in_(dates)))).all() if dates else []
    existing = {r.logical_date: r.state for r in rows}
    wanted = []
    for date in dates:
        state = existing.get(date)
        if date not in existing or _reprocesses(reprocess, state):
            wanted.append(date)
    return wanted


async def dry_run(store: Store, *, tenant: str, dag_id: str, from_date: datetime,
                  to_date: datetime, reprocess: str, run_backwards: bool,
                  now: datetime | None = None) -> list[datetime]:
    """The logical dates a backfill would run, in the order it would start them."""
    async with store.connect() as conn:
        spec = await _spec(conn, dag_id, tenant)
        dates = logical_dates(spec, from_date, to_date, now or utcnow())
        planned = await _plan(conn, dag_id, dates, reprocess)
    return planned[::-1] if run_backwards else planned


def _row(r: Any) -> Backfill:
    return Backfill(**{k: r._mapping[k] for k in Backfill.__dataclass_fields__})


async def create(operations: Operations, store: Store, *, tenant: str, dag_id: str,
                 from_date: datetime, to_date: datetime, conf: dict[str, Any] | None,
                 reprocess: str, max_active_runs: int, run_backwards: bool,
                 user: str | None) -> Backfill:
    """Record a backfill of the planned dates and start its first runs."""
    if max_active_runs < 1:
        raise BackfillRefused("max_active_runs must be at least 1")
    now = utcnow()
    async with store.begin() as conn:
        spec = await _spec(conn, dag_id, tenant)
        open_one = (await conn.execute(select(backfill.c.id).where(
            backfill.c.dag_id == dag_id, backfill.c.completed_at.is_(None)))).first()
        if open_one is not None:
            raise BackfillConflict(f"There is already a running backfill for dag {dag_id}")
        dates = logical_dates(spec, from_date, to_date, operations.clock.now())
        planned = await _plan(conn, dag_id, dates, reprocess)
        inserted = await conn.execute(insert(backfill).values(
            dag_id=dag_id, from_date=from_date, to_date=to_date, dag_run_conf=conf,
            is_paused=False, reprocess_behavior=reprocess, max_active_runs=max_active_runs,
            run_backwards=run_backwards, triggering_user_name=user, created_at=now,
            updated_at=now))
        key = inserted.inserted_primary_key
        if key is None:  # every dialect the store supports returns it
            raise BackfillConflict("the backfill could not be recorded")
        new_id = int(key[0])
        if planned:  # none: every date is left alone, and feed completes it at once
            await conn.execute(insert(backfill_date), [
                {"backfill_id": new_id, "logical_date": d} for d in planned])
    await feed(operations, store, new_id)
    return await get(store, new_id, tenant=tenant)


async def get(store: Store, backfill_id: int, *, tenant: str) -> Backfill:
    query = select(backfill).join(dag, dag.c.dag_id == backfill.c.dag_id).where(
        backfill.c.id == backfill_id, dag.c.tenant == tenant)
    async with store.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise BackfillNotFound(f"Could not find backfill with id {backfill_id}")
    return _row(row)


async def page(store: Store, *, tenant: str, dag_id: str | None, active: bool | None,
               order: str, limit: int, offset: int) -> tuple[list[Backfill], int]:
    """One page of the tenant's backfills (of ``dag_id``), by ``order`` (``-`` descends)."""
    query = select(backfill).join(dag, dag.c.dag_id == backfill.c.dag_id).where(
        dag.c.tenant == tenant)
    if dag_id is not None:
        query = query.where(backfill.c.dag_id == dag_id)
    if active is not None:
        done = backfill.c.completed_at
        query = query.where(done.is_(None) if active else done.is_not(None))
    name = order.lstrip("-")
    if name not in backfill.c:
        raise BackfillRefused(f"Ordering with '{name}' is disallowed or the attribute does "
                              "not exist on the model")
    column = backfill.c[name]
    async with store.connect() as conn:
        total = int((await conn.execute(
            select(func.count()).select_from(query.subquery()))).scalar_one())
        rows = (await conn.execute(query.order_by(
            column.desc() if order.startswith("-") else column.asc(), backfill.c.id)
            .limit(limit).offset(offset))).all()
    return [_row(r) for r in rows], total


async def set_paused(operations: Operations, store: Store, backfill_id: int, paused: bool, *,
                     tenant: str) -> Backfill:
    found = await get(store, backfill_id, tenant=tenant)
    if found.completed_at is not None:
        raise BackfillConflict(f"Backfill {backfill_id} is already completed")
    async with store.begin() as conn:
        await conn.execute(update(backfill).where(backfill.c.id == backfill_id).values(
            is_paused=paused, updated_at=utcnow()))
    if not paused:
        await feed(operations, store, backfill_id)
    return await get(store, backfill_id, tenant=tenant)


async def cancel(operations: Operations, store: Store, backfill_id: int, *, tenant: str,
                 user: str | None) -> Backfill:
    """Start nothing more; the backfill's queued runs are marked failed (running ones
    finish)."""
    found = await get(store, backfill_id, tenant=tenant)
    if found.completed_at is not None:
        raise BackfillConflict(f"Backfill {backfill_id} is already completed")
    now = utcnow()
    async with store.begin() as conn:
        await conn.execute(update(backfill).where(backfill.c.id == backfill_id).values(
            is_paused=True, completed_at=now, updated_at=now))
        queued = (await conn.execute(select(dag_run.c.run_id).where(
            dag_run.c.dag_id == found.dag_id, dag_run.c.state == "queued",
            dag_run.c.run_id.in_(select(backfill_date.c.run_id).where(
                backfill_date.c.backfill_id == backfill_id))))).scalars().all()
    for run_id in queued:
        await operations.mark_run(found.dag_id, run_id, "failed", user=user)
    return await get(store, backfill_id, tenant=tenant)


async def feed(operations: Operations, store: Store, backfill_id: int) -> None:
    """Start the next dates of an open, unpaused backfill while fewer than its
    ``max_active_runs`` runs are queued or running; complete it when all have run."""
    lock = _locks.setdefault(backfill_id, asyncio.Lock())
    async with lock:
        for _ in range(MAX_DATES + 1):  # each pass starts a date or ends the loop
            found, active, pending = await _progress(store, backfill_id)
            if found is None or found.is_paused:
                return
            if not pending:
                if active == 0:
                    async with store.begin() as conn:
                        await conn.execute(update(backfill).where(
                            backfill.c.id == backfill_id).values(
                            completed_at=utcnow(), updated_at=utcnow()))
                return
            if active >= found.max_active_runs:
                return
            await _start(operations, store, found, pending[0])


async def _progress(store: Store, backfill_id: int
                    ) -> tuple[Backfill | None, int, list[datetime]]:
    """(the open backfill or None, its runs queued or running, its dates not started)."""
    async with store.connect() as conn:
        row = (await conn.execute(select(backfill).where(backfill.c.id == backfill_id))).first()
        if row is None or row.completed_at is not None:
            return None, 0, []
        found = _row(row)
        started = select(backfill_date.c.run_id).where(
            backfill_date.c.backfill_id == backfill_id, backfill_date.c.run_id.is_not(None))
        active = int((await conn.execute(select(func.count()).where(
            dag_run.c.dag_id == found.dag_id, dag_run.c.state.in_(ACTIVE),
            dag_run.c.run_id.in_(started)))).scalar_one())
        order = backfill_date.c.logical_date
        pending = list((await conn.execute(select(backfill_date.c.logical_date).where(
            backfill_date.c.backfill_id == backfill_id, backfill_date.c.started_at.is_(None))
            .order_by(order.desc() if found.run_backwards else order.asc()))).scalars().all())
    return found, active, pending


def _data_interval(spec: DagSpec, date: datetime) -> timetable.DataInterval:
    """The data interval the timetable gives the run of logical date ``date``."""
    infos = timetable.runs_between(spec.schedule, start_date=date, end_date=date,
                                   last_logical_date=None, now=date + timedelta(days=3660),
                                   catchup=True, limit=1)
    if infos and infos[0].logical_date == date:
        return infos[0].data_interval
    return timetable.DataInterval(date, date)  # the schedule changed since: a point


async def _start(operations: Operations, store: Store, found: Backfill, date: datetime
                 ) -> None:
    async with store.connect() as conn:
        existing = (await conn.execute(select(dag_run.c.run_id, dag_run.c.state).where(
            dag_run.c.dag_id == found.dag_id, dag_run.c.logical_date == date))).first()
        version = await dags.current_version(conn, found.dag_id)
    run_id: str | None
    if existing is None and version is not None:
        try:
            run = await operations.trigger_run(
                found.dag_id, conf=dict(found.dag_run_conf or {}), logical_date=date,
                run_id=f"backfill__{date.isoformat()}", run_type=DagRunType.BACKFILL,
                triggered_by="backfill", allow_paused=True, user=found.triggering_user_name,
                data_interval=_data_interval(DagSpec.from_json(version.spec), date))
            run_id = run.run_id
        except RunAlreadyExists:  # a run for the date appeared meanwhile: leave it
            run_id = None
        except ServiceError as exc:  # the DAG can no longer run (stale, import errors...)
            log.warning("backfill %s skips %s of %s: %s", found.id, date.isoformat(),
                        found.dag_id, exc)
            run_id = None
    elif existing is not None and _reprocesses(found.reprocess_behavior, existing.state):
        await operations.clear_task_instances(  # the whole run again, as Airflow's dag.clear
            found.dag_id, existing.run_id, None, only_failed=False,
            user=found.triggering_user_name)
        run_id = existing.run_id
    else:
        run_id = None  # queued or running already, or nothing to reprocess
    async with store.begin() as conn:
        await conn.execute(update(backfill_date).where(
            backfill_date.c.backfill_id == found.id, backfill_date.c.logical_date == date)
            .values(run_id=run_id, started_at=utcnow()))


async def feed_dag(operations: Operations, store: Store, dag_id: str | None = None) -> None:
    """``feed`` every open backfill (of ``dag_id``)."""
    query = select(backfill.c.id).where(backfill.c.completed_at.is_(None))
    if dag_id is not None:
        query = query.where(backfill.c.dag_id == dag_id)
    async with store.connect() as conn:
        ids = (await conn.execute(query)).scalars().all()
    for backfill_id in ids:
        await feed(operations, store, backfill_id)


def run_listener(operations: Operations, store: Store
                 ) -> Callable[[str, dict[str, Any]], None]:
    """A scheduler listener: when a run ends, its DAG's open backfills start their next
    dates (in a task of their own: listeners must not block the scheduler)."""
    tasks: set[asyncio.Task[None]] = set()

    def heard(kind: str, data: dict[str, Any]) -> None:
        if kind != "run.finished":
            return
        task = asyncio.get_running_loop().create_task(
            feed_dag(operations, store, data.get("dag_id")))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return heard
