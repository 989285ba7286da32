"""Leader election over a PostgreSQL session advisory lock.

Every ``leoflow-server`` replica runs one ``LeaderElector``. It opens a dedicated
connection (outside the store's pool, so the pool can never hand it out or recycle it) and
calls ``pg_try_advisory_lock`` on it about once a second; the replica that gets the lock is
the leader and runs the scheduler for as long as it holds it. A session lock lives exactly
as long as the session: when the leader's process dies (SIGKILL, OOM, node lost) the kernel
closes its socket, PostgreSQL ends the backend and the lock is free for the next try of a
follower, about a second later.

While leading, the elector runs ``SELECT 1`` on the lock connection every ``interval``
seconds (bounded by ``check_timeout``); a failed or slow check, or the connection closing,
means the lock may be gone, and ``on_lost`` is called at once: scheduling stops before
another replica can have started. The same checks are the leader's heartbeat, which every
replica can read in ``pg_stat_activity`` (see ``leader_info``).

The leader also ``LISTEN``s on ``NOTIFY_CHANNEL`` on that connection: followers send what
the scheduler must hear (a run to wake, an agent's report) there (see ``relay``).

A lock is per database, so several Leoflow installations can share a PostgreSQL cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger("leoflow.ha")

# pg_try_advisory_lock(int4, int4): pg_locks shows them as classid / objid, objsubid = 2.
LOCK_CLASS = 0x4C454F  # "LEO"
LOCK_OBJECT = 1  # the scheduler
NOTIFY_CHANNEL = "leoflow_scheduler"
APPLICATION_PREFIX = "leoflow-scheduler:"  # + replica id: the lock connection's name
DEFAULT_INTERVAL = 1.0

Connect = Callable[[], Awaitable[Any]]  # → an asyncpg connection


@dataclass(frozen=True)
class LeaderInfo:
    """Who holds the lock, and when its holder last proved it was alive."""

    replica_id: str
    heartbeat: datetime | None


LEADER_QUERY = f"""
SELECT substr(a.application_name, {len(APPLICATION_PREFIX) + 1}) AS replica_id,
       coalesce(a.query_start, a.backend_start) AS heartbeat
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {LOCK_CLASS}
  AND l.objid = {LOCK_OBJECT} AND l.objsubid = 2 AND l.database = (
      SELECT oid FROM pg_database WHERE datname = current_database())
"""


def asyncpg_connector(database_url: str, replica_id: str) -> Connect:
    """A function opening asyncpg connections to an SQLAlchemy ``postgresql+asyncpg`` URL.

    The connection is named after the replica (``application_name``) so the lock's holder
    can be found in ``pg_stat_activity``; TCP keepalives make a lost network show within
    about 15 s on the server's side too (PostgreSQL then frees the lock).
    """
    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import dialect
    from sqlalchemy.engine import make_url

    _, kwargs = dialect().create_connect_args(make_url(database_url))
    settings = {"application_name": (APPLICATION_PREFIX + replica_id)[:63],
                "tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
                "tcp_keepalives_count": "3"}

    async def connect() -> Any:
        return await asyncpg.connect(**kwargs, server_settings=settings, timeout=5.0)

    return connect


class LeaderElector:
    """Campaigns for the lock; calls ``on_elected`` / ``on_lost`` as leadership changes.

    ``on_notify(payload)`` receives each message sent to ``NOTIFY_CHANNEL`` while leading
    (decoded JSON). Callbacks run on the elector's task; ``on_lost`` must not fail.
    ``campaign=False`` only follows: it never takes the lock but keeps ``leader`` current
    (a replica that serves the API and the agents only).
    """

    def __init__(self, connect: Connect, *, replica_id: str,
                 on_elected: Callable[[], Awaitable[None]],
                 on_lost: Callable[[], Awaitable[None]],
                 on_notify: Callable[[dict[str, Any]], None] | None = None,
                 interval: float = DEFAULT_INTERVAL, check_timeout: float | None = None,
                 campaign: bool = True) -> None:
        self._connect = connect
        self.replica_id = replica_id
        self._on_elected = on_elected
        self._on_lost = on_lost
        self._on_notify = on_notify
        self.interval = interval
        self.campaign = campaign
        self.check_timeout = check_timeout if check_timeout is not None else 2 * interval
        self.is_leader = False
        self.leader: LeaderInfo | None = None  # the last seen holder (this one or another)
        self.elected_at: float | None = None  # time.monotonic() of the last election
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._decided = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="leoflow-leader-election")

    async def first_round(self, timeout: float) -> None:
        """Wait until the first campaign round ended (elected, or another replica leads),
        at most ``timeout`` seconds (a database that does not answer is logged, not
        raised: the elector keeps trying)."""
        try:
            await asyncio.wait_for(self._decided.wait(), timeout)
        except TimeoutError:
            log.warning("leader election: no answer from the database within %.0f s; "
                        "still trying", timeout)

    async def stop(self) -> None:
        """Stop campaigning; a leader steps down (``on_lost``) and frees the lock."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.is_leader:
            await self._step_down("the server is stopping")
        await self._close()

    # -- the campaign ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                if self.is_leader:
                    await self._hold()
                else:
                    await self._campaign()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._decided.set()
                if self.is_leader:
                    await self._step_down(f"the lock connection failed ({exc})")
                else:
                    log.warning("leader election: %s; retrying in %.1f s", exc, self.interval)
                await self._close()
                await asyncio.sleep(self.interval)

    async def _campaign(self) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._connect()
            self._lost.clear()
            self._conn.add_termination_listener(lambda _conn: self._lost.set())
        if self.campaign and await self._conn.fetchval(
                f"SELECT pg_try_advisory_lock({LOCK_CLASS}, {LOCK_OBJECT})"):
            self.is_leader = True
            self.elected_at = time.monotonic()
            if self._on_notify is not None:
                await self._conn.add_listener(NOTIFY_CHANNEL, self._notified)
            await self._refresh_leader()
            log.info("replica %s became leader: it runs the scheduler", self.replica_id)
            try:
                await self._on_elected()
            except Exception:
                log.exception("starting the scheduler after the election failed")
                await self._step_down("the scheduler could not start")
                await self._close()  # frees the lock for another replica
                raise
            self._decided.set()
            return
        await self._refresh_leader()
        self._decided.set()
        await asyncio.sleep(self.interval)

    async def _hold(self) -> None:
        """One health check of the lock connection, then wait for the next (or its loss)."""
        await asyncio.wait_for(self._conn.fetchval("SELECT 1"), self.check_timeout)
        self.leader = LeaderInfo(self.replica_id, _now())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lost.wait(), self.interval)
        if self._lost.is_set():
            raise ConnectionError("the lock connection was closed")

    async def _refresh_leader(self) -> None:
        row = await self._conn.fetchrow(LEADER_QUERY)
        self.leader = None if row is None else LeaderInfo(row["replica_id"], row["heartbeat"])

    async def _step_down(self, reason: str) -> None:
        self.is_leader = False
        self.leader = None
        log.warning("replica %s lost leadership (%s): scheduling stopped", self.replica_id,
                    reason)
        try:
            await self._on_lost()
        except Exception:
            log.exception("stopping the scheduler after losing leadership failed")

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)
            if not conn.is_closed():
                conn.terminate()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._on_notify is None or not self.is_leader:
            return
        try:
            message = json.loads(payload)
        except ValueError:
            log.warning("ignoring a malformed scheduler notification: %.200s", payload)
            return
        try:
            self._on_notify(message)
        except Exception:
            log.exception("handling a scheduler notification failed")


def _now() -> datetime:
    from leoflow.engine.store import utcnow

    return utcnow()
