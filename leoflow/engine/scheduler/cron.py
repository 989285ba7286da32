"""Schedules: the runs a DAG's timetable makes due, and the timer for the next one.

A DAG is looked at when it is registered, paused or unpaused, when one of its runs is
deleted, and when its cron timer fires (``DagItem``). Looking at it creates the scheduled
runs that are due (within ``max_active_runs``, catching up if the DAG says so), records the
next run on the DAG row, and sets one timer for it. When ``max_active_runs`` stops the
catch-up, the DAG is remembered and looked at again as soon as one of its runs ends.

The paused flags are cached here too: the loop examines no run of a paused DAG, and
unpausing a DAG wakes it (``Scheduler.wake_dag``) which refreshes the flag.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler import timetable
from leoflow.engine.scheduler.asset_partitions import cron_partition_key
from leoflow.engine.scheduler.run_views import ACTIVE_RUN_STATES, RunViews
from leoflow.engine.scheduler.states import DagRunType
from leoflow.engine.scheduler.timers import Timers
from leoflow.engine.scheduler.work_items import DagItem
from leoflow.engine.store import DuplicateRunError, dags, runs

log = logging.getLogger("leoflow.scheduler")


class Schedules:
    """Cron and timetable schedules of DAGs (see the module docstring)."""

    def __init__(self, views: RunViews, timers: Timers) -> None:
        self._views = views
        self._timers = timers
        self.paused: dict[str, bool] = {}
        self._catchup_blocked: set[str] = set()

    def blocked(self, dag_id: str) -> bool:
        """Whether catch-up runs of ``dag_id`` wait for a run slot."""
        return dag_id in self._catchup_blocked

    async def is_paused(self, conn: AsyncConnection, dag_id: str) -> bool:
        paused = self.paused.get(dag_id)
        if paused is None:
            dag = await dags.get_dag(conn, dag_id)
            paused = self.paused[dag_id] = dag is None or dag.is_paused
        return paused

    async def schedule_dag(self, conn: AsyncConnection, dag_id: str,
                           now: datetime) -> set[int]:
        """Create the scheduled runs that are due (within max_active_runs) and set a timer
        for the next one."""
        self._timers.cancel(("cron", dag_id))
        self._catchup_blocked.discard(dag_id)
        dag = await dags.get_dag(conn, dag_id)
        self.paused[dag_id] = dag is None or dag.is_paused
        # A stale DAG (its file is gone or no longer defines it) gets no new scheduled runs.
        if dag is None or dag.is_paused or dag.is_stale or dag.current_version_id is None:
            return set()
        spec, _ = await self._views.spec(conn, dag.current_version_id)
        if spec.schedule.kind in ("none", "assets"):  # "assets": runs come from events
            return set()
        last = await runs.list_runs(conn, dag_id=dag_id, run_type="scheduled", limit=1,
                                    order="-logical_date")
        last_logical = last.items[0].logical_date if last.items else None
        tz = timetable.timezone_of(spec.schedule)
        start_date = timetable.parse_date(spec.start_date, tz)
        end_date = timetable.parse_date(spec.end_date, tz)
        created: set[int] = set()
        due = timetable.runs_between(spec.schedule, start_date=start_date, end_date=end_date,
                                     last_logical_date=last_logical, now=now,
                                     catchup=spec.catchup)
        active = await runs.count_runs(conn, dag_id, state=list(ACTIVE_RUN_STATES)) \
            if due else 0
        blocked = False
        for info in due:
            if active >= spec.max_active_runs:
                # Airflow creates no run while a DAG has max_active_runs active ones; the
                # rest follow as runs finish (``Lifecycle.release_dag``).
                blocked = True
                break
            try:
                run = await runs.create_run(
                    conn, dag_id=dag_id,
                    run_id=timetable.run_id(DagRunType.SCHEDULED, info.logical_date),
                    run_type="scheduled", dag_version_id=dag.current_version_id,
                    run_after=info.run_after, logical_date=info.logical_date,
                    data_interval_start=info.data_interval.start,
                    data_interval_end=info.data_interval.end, triggered_by="timetable",
                    partition_key=cron_partition_key(spec.schedule, info.logical_date),
                    now=now)
            except DuplicateRunError as exc:
                log.warning("DAG %s: no scheduled run for %s: %s", dag_id,
                            info.logical_date.isoformat(), exc)
            else:
                created.add(run.id)
                active += 1
            last_logical = info.logical_date
        upcoming = timetable.next_run(spec.schedule, start_date=start_date, end_date=end_date,
                                      last_logical_date=last_logical, now=now,
                                      catchup=spec.catchup)
        await dags.set_next_dagrun(
            conn, dag_id, logical_date=upcoming.logical_date if upcoming else None,
            data_interval_start=upcoming.data_interval.start if upcoming else None,
            data_interval_end=upcoming.data_interval.end if upcoming else None,
            run_after=upcoming.run_after if upcoming else None)
        if blocked:
            self._catchup_blocked.add(dag_id)
        elif upcoming is not None:
            self._timers.set(("cron", dag_id), upcoming.run_after, DagItem(dag_id))
        return created
