"""The trigger runner: every deferred task's wait, inside the control plane's event loop.

The scheduler owns it (``Scheduler.start``/``stop`` start and stop it), so in HA only the
leader runs triggers and they move with leadership. It holds one small record per waiting
trigger and one ``TimerHeap`` for everything time-based: a ``time`` trigger's moment, the
next poll of a polling kind (file, http, external_task) and every timeout. A due poll runs
as a short asyncio task, at most ``max_polls`` at once; the rest queue. Idle, the runner
does nothing at all until the heap's head is due.

Triggers are rows in the store (``store.triggers``), written by the scheduler in the
transaction that defers the try; ``start`` loads them all, so a restart resumes every wait.
The runner never changes a task instance: it hands a ``TriggerEvent`` to ``on_event`` (the
scheduler's queue), and the scheduler deletes the row in the transaction that applies the
event, so a trigger that fires twice (a restart between firing and applying) is applied once.

What a trigger is doing is written to its try's log (stream ``agent``, each line starting
with ``trigger:``): waiting, each poll's outcome, firing, timing out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from leoflow.engine.clock import Clock
from leoflow.engine.logs import LogKey
from leoflow.engine.masking.values import ValueMasker, connection_secrets
from leoflow.engine.store import Store, dags, runs
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.rows import TriggerRow
from leoflow.engine.triggers import dag_run, external, files, hitl, http

if TYPE_CHECKING:  # imported by the first http trigger: a start does not need httpx
    import httpx
from leoflow.engine.triggers.base import PollResult, TriggerEvent, parse_connection, poke_interval
from leoflow.engine.triggers.kinds import describe
from leoflow.engine.triggers.timers import TimerHeap

log = logging.getLogger("leoflow.triggers")

STREAM = "agent"  # the log store's streams are stdout, stderr and agent
PREFIX = "trigger: "
DEFAULT_MAX_POLLS = 32

TenantConnectionLookup = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]
"""``(tenant, conn_id)`` → the connection in Airflow's JSON form, or ``None``."""


class TriggerLogSink(Protocol):
    async def append_lines(self, key: LogKey, stream: str, lines: list[str],
                           timestamp: float | None = None) -> None: ...

    async def finish(self, key: LogKey) -> None: ...


class _Waiting:
    """One waiting trigger in memory (slots: 100,000 of them must stay small)."""

    __slots__ = (
        "dag_id",
        "dag_run_id",
        "id",
        "kind",
        "kwargs",
        "last",
        "logical_date",
        "map_index",
        "polling",
        "run_id",
        "stale",
        "task_id",
        "ti_id",
        "timeout_kind",
        "try_number",
    )

    def __init__(self, row: TriggerRow, dag_id: str, run_id: str, task_id: str,
                 map_index: int, dag_run_id: int) -> None:
        self.id = row.id
        self.kind = row.classpath
        self.kwargs = row.kwargs
        self.ti_id = row.task_instance_id
        self.try_number = row.try_number
        self.dag_id = dag_id
        self.run_id = run_id
        self.task_id = task_id
        self.map_index = map_index
        self.dag_run_id = dag_run_id
        self.timeout_kind = row.timeout_kind
        self.last: str | None = None
        self.logical_date: datetime | bool | None = False  # False: not looked up yet
        self.polling = False
        # What the running poll reads may be out of date: an event it should see arrived
        # while it ran (poll again at once instead of at the next interval).
        self.stale = False

    def log_key(self) -> LogKey:
        return LogKey(self.dag_id, self.run_id, self.task_id, try_number=self.try_number,
                      map_index=self.map_index)


def _due_key(trigger_id: int) -> int:
    return trigger_id * 2


def _timeout_key(trigger_id: int) -> int:
    return trigger_id * 2 + 1


class TriggerRunner:
    """Runs the store's triggers; see the module docstring."""

    def __init__(self, store: Store, clock: Clock, *,
                 on_event: Callable[[TriggerEvent], None],
                 logs: TriggerLogSink | None = None,
                 connection_lookup: TenantConnectionLookup | None = None,
                 triggerer_id: str | None = None,
                 max_polls: int = DEFAULT_MAX_POLLS) -> None:
        self.store = store
        self.clock = clock
        self.on_event = on_event
        self.logs = logs
        self.connection_lookup = connection_lookup or environment_connection
        self.triggerer_id = triggerer_id or f"{socket.gethostname()}:{os.getpid()}"
        self.max_polls = max_polls
        self.running = False
        self.started_at: datetime | None = None
        self.fired = 0
        self._waiting: dict[int, _Waiting] = {}
        self._masker = ValueMasker()  # the secrets of the connections triggers looked up
        self._by_ti: dict[str, int] = {}
        self._watching: dict[str, set[int]] = {}  # external dag_id → external_task triggers
        self._heap = TimerHeap(clock, self._on_due)
        self._polls: set[asyncio.Task[None]] = set()
        self._pending_polls: deque[int] = deque()
        self._log_queue: deque[tuple[LogKey, str, bool]] = deque()
        self._log_wake = asyncio.Event()
        self._log_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._tenants: dict[str, str] = {}
        # TriggerDagRunOperator requests: the control plane's cross-DAG service, wired in
        # by the composition root (the runner cannot import services: they import it)
        self.dag_runs: dag_run.DagRunStarter | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Load every waiting trigger from the store and take ownership of them."""
        self.running = True
        self.started_at = self.clock.now()
        self._heap = TimerHeap(self.clock, self._on_due)
        if self.logs is not None:
            self._log_task = asyncio.create_task(self._write_logs(), name="leoflow-trigger-log")
        async with self.store.begin() as conn:
            await trigger_rows.claim_triggers(conn, self.triggerer_id)
            rows = await trigger_rows.waiting_with_keys(conn)
        for row, dag_id, run_id, task_id, map_index, dag_run_id in rows:
            self.add(row, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index,
                     dag_run_id=dag_run_id, resumed=True)
        if rows:
            log.info("trigger runner %s resumed %d waiting trigger(s)", self.triggerer_id,
                     len(rows))

    async def stop(self) -> None:
        """Stop waiting (the rows stay: the next start, here or on another replica, resumes)."""
        self.running = False
        self._heap.close()
        for task in list(self._polls):
            task.cancel()
        for task in list(self._polls):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._polls.clear()
        self._pending_polls.clear()
        if self._log_task is not None:
            self._log_wake.set()
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task
            self._log_task = None
            await self._flush_logs()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._waiting.clear()
        self._by_ti.clear()
        self._watching.clear()

    # -- what the scheduler tells it ---------------------------------------------------------
    def add(self, row: TriggerRow, *, dag_id: str, run_id: str, task_id: str, map_index: int,
            dag_run_id: int, resumed: bool = False) -> None:
        """Start waiting on a trigger the scheduler just committed (or found at start)."""
        if not self.running or row.id in self._waiting:
            return
        w = _Waiting(row, dag_id, run_id, task_id, map_index, dag_run_id)
        self._waiting[row.id] = w
        self._by_ti[w.ti_id] = row.id
        now = self.clock.now().timestamp()
        if row.classpath == "time":
            due = row.due_at.timestamp() if row.due_at else now
            self._heap.set(_due_key(row.id), due)
        else:
            self._heap.set(_due_key(row.id), now)  # first poll at once
            if _watched_dag(row.classpath, row.kwargs) is not None:
                self._watching.setdefault(str(_watched_dag(row.classpath, row.kwargs)),
                                          set()).add(row.id)
        if row.timeout_at is not None:
            self._heap.set(_timeout_key(row.id), row.timeout_at.timestamp())
        if self.logs is not None:
            what = describe(row.classpath, row.kwargs, row.due_at)
            until = (f"; gives up at {row.timeout_at.isoformat()}"
                     if row.timeout_at is not None else "")
            verb = "still waiting (control plane restarted)" if resumed else "deferred"
            self._log(w, f"{verb}: waiting for {what} (trigger {row.id}){until}")

    def drop(self, trigger_id: int) -> None:
        """Stop waiting on a trigger (its task instance was cleared, marked or timed out)."""
        w = self._waiting.pop(trigger_id, None)
        if w is None:
            return
        if self._by_ti.get(w.ti_id) == trigger_id:
            del self._by_ti[w.ti_id]
        self._heap.cancel(_due_key(trigger_id))
        self._heap.cancel(_timeout_key(trigger_id))
        watched = _watched_dag(w.kind, w.kwargs)
        if watched is not None:
            watchers = self._watching.get(watched)
            if watchers is not None:
                watchers.discard(trigger_id)
                if not watchers:
                    del self._watching[watched]

    def poll_now(self, ti_id: str) -> bool:
        """Poll the trigger of task instance ``ti_id`` now (its answer was just stored);
        whether this runner holds one."""
        trigger_id = self._by_ti.get(ti_id)
        if trigger_id is None or not self.running:
            return False
        self._heap.set(_due_key(trigger_id), self.clock.now().timestamp())
        return True

    def notice(self, kind: str, data: Mapping[str, Any]) -> None:
        """A scheduler event (``ti.finished``, ``run.finished``): external-task triggers
        watching that DAG poll now instead of at their next interval."""
        if kind not in ("ti.finished", "run.finished") or not self._watching:
            return
        for trigger_id in list(self._watching.get(str(data.get("dag_id")), ())):
            w = self._waiting.get(trigger_id)
            if w is None:
                continue
            if w.polling:
                w.stale = True  # it may have read the state before this event
            else:
                self._heap.set(_due_key(trigger_id), self.clock.now().timestamp())

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no poll runs or waits for a slot and the log lines are written (for
        tests and CLIs; a poll that is merely scheduled for later does not count)."""
        async def settled() -> None:
            while self._polls or self._pending_polls or self._log_queue:
                if self._polls:
                    await asyncio.wait(list(self._polls))
                else:
                    await asyncio.sleep(0.01)

        await asyncio.wait_for(settled(), timeout)

    # -- what others may ask ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def watching(self) -> bool:
        """Whether external-task triggers want the scheduler's events (``notice``)."""
        return bool(self._watching)

    def waiting_for(self, trigger_id: int) -> str | None:
        """The last poll's account of what the trigger waits for (``None``: not polled)."""
        w = self._waiting.get(trigger_id)
        return None if w is None else w.last

    def status(self) -> dict[str, Any]:
        """For ``/monitor/health``: whether it runs, since when, how many triggers wait."""
        return {"status": "healthy" if self.running else "unhealthy",
                "latest_triggerer_heartbeat": (self.clock.now().isoformat()
                                               if self.running else None),
                "triggerer_id": self.triggerer_id, "triggers": len(self._waiting),
                "polls_running": len(self._polls), "fired": self.fired}

    # -- firing --------------------------------------------------------------------------------
    def _on_due(self, keys: list[int]) -> None:
        now = self.clock.now()
        for key in keys:
            trigger_id, is_timeout = divmod(key, 2)
            w = self._waiting.get(trigger_id)
            if w is None:
                continue
            if is_timeout and w.kind == "hitl":
                # a human-in-the-loop timeout is an answer (the defaults) or Airflow's
                # timeout event, both decided by a last poll (triggers/hitl.py)
                self._queue_poll(trigger_id)
            elif is_timeout:
                self._log(w, f"timed out at {now.isoformat()} (trigger {trigger_id})")
                self._emit(w, TriggerEvent(trigger_id, w.ti_id, w.try_number, {},
                                           timed_out=True, timeout_kind=w.timeout_kind))
            elif w.kind == "time":
                event = {"moment": now.isoformat()}
                self._log(w, f"fired: time {now.isoformat()} reached (trigger {trigger_id})")
                self._emit(w, TriggerEvent(trigger_id, w.ti_id, w.try_number, event))
            else:
                self._queue_poll(trigger_id)

    def _emit(self, w: _Waiting, event: TriggerEvent) -> None:
        self.drop(w.id)
        self.fired += 1
        try:
            self.on_event(event)
        except Exception:
            log.exception("the trigger event callback failed for trigger %s", w.id)

    def _queue_poll(self, trigger_id: int) -> None:
        w = self._waiting.get(trigger_id)
        if w is None or w.polling:
            return
        if len(self._polls) >= self.max_polls:
            self._pending_polls.append(trigger_id)
            return
        w.polling = True
        w.stale = False
        task = asyncio.create_task(self._poll(w), name=f"leoflow-trigger-{trigger_id}")
        self._polls.add(task)
        task.add_done_callback(self._poll_done)

    def _poll_done(self, task: asyncio.Task[None]) -> None:
        self._polls.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a trigger poll failed", exc_info=task.exception())
        while self._pending_polls and len(self._polls) < self.max_polls and self.running:
            self._queue_poll(self._pending_polls.popleft())

    async def _poll(self, w: _Waiting) -> None:
        try:
            result = await self._poll_once(w)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = PollResult(None, f"{describe(w.kind, w.kwargs)} (last poll failed: "
                                      f"{type(exc).__name__}: {exc})")
        finally:
            w.polling = False
        if result is None or w.id not in self._waiting:
            return
        if result.event is not None:
            self._log(w, f"fired: {result.waiting_for or result.event} (trigger {w.id})")
            self._emit(w, TriggerEvent(w.id, w.ti_id, w.try_number, dict(result.event)))
            return
        w.last = result.waiting_for
        self._log(w, f"poll: still waiting for {result.waiting_for}")
        due = self.clock.now().timestamp()
        if not w.stale:
            due += poke_interval(w.kwargs)
        w.stale = False
        self._heap.set(_due_key(w.id), due)

    async def _poll_once(self, w: _Waiting) -> PollResult | None:
        async with self.store.connect() as conn:
            if await trigger_rows.get_trigger(conn, w.id) is None:
                # Its task instance or run was deleted (the row went with it).
                self.drop(w.id)
                return None
            if w.kind == "external_task" and w.logical_date is False:
                run = await runs.get_run_by_id(conn, w.dag_run_id)
                w.logical_date = run.logical_date if run is not None else None
            if w.kind == "http" and w.dag_id not in self._tenants:
                dag = await dags.get_dag(conn, w.dag_id)
                self._tenants[w.dag_id] = dag.tenant if dag is not None else "default"
        if w.kind == "file":
            return await files.poll(w.kwargs)
        if w.kind == "dag_run":
            return await dag_run.poll(w.kwargs, w.id, w.dag_id, self.dag_runs)
        if w.kind == "hitl":
            return await hitl.poll(self.store, w.ti_id, w.try_number, self.clock.now())
        if w.kind == "http":
            if self._client is None:
                import httpx

                self._client = httpx.AsyncClient()
            tenant = self._tenants.get(w.dag_id, "default")

            async def lookup(conn_id: str) -> Mapping[str, Any] | None:
                found = await self.connection_lookup(tenant, conn_id)
                if found:  # what a trigger reads is masked in the lines it writes (Airflow)
                    self._masker.add(connection_secrets(found))
                return found

            return await http.poll(w.kwargs, self._client, lookup)
        if w.kind == "external_task":
            logical = w.logical_date if isinstance(w.logical_date, datetime) else None
            return await external.poll(w.kwargs, self.store, logical)
        return PollResult(None, f"nothing: unknown trigger kind {w.kind!r}")

    # -- the try's log -------------------------------------------------------------------------
    def _log(self, w: _Waiting, line: str) -> None:
        if self.logs is None:
            return
        self._log_queue.append((w.log_key(), PREFIX + self._masker.redact(line), True))
        self._log_wake.set()

    async def _write_logs(self) -> None:
        while True:
            await self._log_wake.wait()
            self._log_wake.clear()
            await self._flush_logs()

    async def _flush_logs(self) -> None:
        logs = self.logs
        if logs is None:  # then _log queues nothing
            return
        while self._log_queue:
            key, line, finish = self._log_queue.popleft()
            try:
                await logs.append_lines(key, STREAM, [line], datetime.now(UTC).timestamp())
                if finish:
                    # The try's agent is not running: nothing else closes this log now.
                    await logs.finish(key)
            except Exception:
                log.exception("cannot write a trigger line to the log of %s", key)


def _watched_dag(kind: str, kwargs: Mapping[str, Any]) -> str | None:
    """The other DAG whose changes make this trigger poll at once (``notice``)."""
    if kind == "external_task":
        return str(kwargs.get("external_dag_id"))
    if kind == "dag_run" and kwargs.get("wait_for_completion"):
        return str(kwargs.get("trigger_dag_id"))
    return None


async def environment_connection(tenant: str, conn_id: str) -> Mapping[str, Any] | None:
    """The control plane's own ``AIRFLOW_CONN_<ID>`` (JSON form), for any tenant: the
    fallback when no store-backed lookup is wired in."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    return parse_connection(raw) if raw else None
