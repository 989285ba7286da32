"""What the scheduler must hear, delivered to whichever replica leads.

Operations (trigger, clear, mark, pause…) and the agent service talk to a ``SchedulerRelay``
instead of the scheduler. On the leader it calls the local scheduler. On a follower the
change is already committed to the shared database; what the leader lacks is the nudge,
since it cannot see another process's ``wake_run``. The follower sends it with PostgreSQL
``NOTIFY`` (after its own commit, so the leader reads what the nudge is about), and the
leader's elector, which ``LISTEN``s on its lock connection, hands it to its scheduler.

Why NOTIFY rather than polling: it costs nothing while idle, arrives in about a
millisecond, needs no table, and rides on the connection the leader holds anyway. It is not
durable: a notification sent while no replica leads (the seconds of a hand-over) is lost.
That loses nothing that matters: a new leader's scheduler starts by re-reading every active
run and DAG from the database, which is what the lost nudges asked for. Agent reports
are the exception (a report is an event, not a nudge): a follower therefore also keeps the
reports it relayed in the last ``KEEP_REPORTS`` seconds and replays them if it becomes the
leader itself; a replayed report the old leader had already applied is ignored by the
scheduler (it checks the try number and the state).

A payload is at most 8000 bytes in PostgreSQL: a long error (a traceback) is shortened to
its end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.ha.elector import NOTIFY_CHANNEL
from leoflow.engine.store import Store

log = logging.getLogger("leoflow.ha")

MAX_PAYLOAD = 7900  # bytes; PostgreSQL's limit is 8000
KEEP_REPORTS = 30.0  # seconds a follower keeps the reports it relayed (for a hand-over)


class SchedulerRelay:
    """The scheduler's inputs (``SchedulerHandle`` and ``report``), leader or not.

    ``is_leader()`` says whether this replica's scheduler runs; ``on_reported(ti_id)`` is the
    executor's note that a try's agent reported (so its exit is not taken for a crash).
    """

    def __init__(self, store: Store, scheduler: Any, *, is_leader: Callable[[], bool],
                 on_reported: Callable[[str], None] | None = None,
                 on_heartbeats: Callable[[list[str]], None] | None = None) -> None:
        self.store = store
        self.scheduler = scheduler
        self.is_leader = is_leader
        self.on_reported = on_reported
        self.on_heartbeats = on_heartbeats  # the agent service's ``heard`` (see agents.py)
        self._kept: deque[tuple[float, ExecutorEvent]] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sent = 0  # notifications sent (diagnostics, tests)
        self.received = 0

    # -- SchedulerHandle ---------------------------------------------------------------------
    def wake_run(self, dag_run_id: int) -> None:
        if self.is_leader():
            self.scheduler.wake_run(dag_run_id)
        else:
            self._send_soon({"op": "wake_run", "id": dag_run_id})

    def wake_dag(self, dag_id: str) -> None:
        if self.is_leader():
            self.scheduler.wake_dag(dag_id)
        else:
            self._send_soon({"op": "wake_dag", "dag_id": dag_id})

    def refresh_pools(self) -> None:
        if self.is_leader():
            self.scheduler.refresh_pools()
        else:
            self._send_soon({"op": "pools"})

    async def cancel_task(self, ti_id: str, executor: str | None, reason: str,
                          try_number: int | None = None) -> None:
        if self.is_leader():
            await self.scheduler.cancel_task(ti_id, executor, reason, try_number)
        else:
            await self._send({"op": "cancel", "ti_id": ti_id, "executor": executor,
                              "reason": reason, "try_number": try_number})

    async def report(self, event: ExecutorEvent) -> None:
        """An agent's report (or a missed heartbeat) for the scheduler."""
        if self.is_leader():
            await self.scheduler.report(event)
            return
        now = time.monotonic()
        self._kept.append((now, event))
        while self._kept and self._kept[0][0] < now - KEEP_REPORTS:
            self._kept.popleft()
        await self._send({"op": "event", "ti_id": event.ti_id, "try": event.try_number,
                          "state": event.state, "error": event.error,
                          "info": dict(event.info)})

    def __getattr__(self, name: str) -> Any:  # listeners, idle(), timer_due(): the scheduler's
        return getattr(self.scheduler, name)

    # -- the leader's side --------------------------------------------------------------------
    async def replay_kept(self) -> None:
        """Just elected: hand the scheduler the reports relayed in the last seconds.

        Call it before the scheduler starts, so that these reports are applied before what
        the start concludes by itself (an agent that exited meanwhile: its try failed)."""
        now = time.monotonic()
        kept, self._kept = list(self._kept), deque()
        for at, event in kept:
            if at >= now - KEEP_REPORTS:
                self._note_reported(event)
                await self.scheduler.report(event)

    def deliver(self, message: dict[str, Any]) -> None:
        """A follower's notification, received by this (leading) replica's elector."""
        self.received += 1
        op = message.get("op")
        if op == "wake_run":
            self.scheduler.wake_run(int(message["id"]))
        elif op == "wake_dag":
            self.scheduler.wake_dag(str(message["dag_id"]))
        elif op == "pools":
            self.scheduler.refresh_pools()
        elif op == "cancel":
            self._spawn(self.scheduler.cancel_task(
                message["ti_id"], message.get("executor"), message.get("reason") or "",
                message.get("try_number")))
        elif op == "beats":
            if self.on_heartbeats is not None:
                self.on_heartbeats([str(i) for i in message.get("ids") or ()])
        elif op == "event":
            event = ExecutorEvent(message["ti_id"], int(message["try"]), message["state"],
                                  error=message.get("error"), info=message.get("info") or {})
            self._note_reported(event)
            self._spawn(self.scheduler.report(event))
        else:
            log.warning("ignoring an unknown scheduler notification %r", op)

    def _note_reported(self, event: ExecutorEvent) -> None:
        # A final state relayed from another replica's agent service: our executor, which
        # may be watching that agent, must not take its exit for a crash.
        if event.state != "running" and self.on_reported is not None:
            self.on_reported(event.ti_id)

    # -- sending ---------------------------------------------------------------------------
    def _spawn(self, call: Any) -> None:
        task = asyncio.get_running_loop().create_task(call)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send_soon(self, message: dict[str, Any]) -> None:
        self._spawn(self._send(message))

    async def send(self, message: dict[str, Any]) -> None:
        """Deliver ``message`` to the leader's ``deliver`` (best effort, see module doc)."""
        await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        payload = _fit(message)
        try:
            async with self.store.begin() as conn:
                await conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                                   {"channel": NOTIFY_CHANNEL, "payload": payload})
            self.sent += 1
        except Exception:
            # The change itself is committed; a new leader re-reads it on election.
            log.warning("could not notify the leader of %s", message.get("op"), exc_info=True)


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)


def _fit(message: dict[str, Any]) -> str:
    """The JSON payload, with a too-long ``error`` cut to its end (a traceback's end is
    where the exception is)."""
    payload = _dump(message)
    error = str(message.get("error") or "")
    while len(payload.encode("utf-8")) > MAX_PAYLOAD and error:
        over = len(payload.encode("utf-8")) - MAX_PAYLOAD
        error = error[over + 64:]
        payload = _dump(dict(message, error="(shortened) …" + error))
    return payload
