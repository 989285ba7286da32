"""Per-try agent tokens, and the try's fencing record kept beside each.

A token is minted when a try is handed to an executor, stored hashed (only the SHA-256; the
plain token exists in the agent's environment alone), valid for one task instance and one
try: minting the next try's token (or the same try's again, when a restart re-launches a
try that never started) replaces the row, so any agent holding an older token is refused.

The row is also the try's durable record of what its agent did, written by the agent
service before it answers the agent (docs/security.md, "Crash consistency"):

- ``started_at`` / ``pid`` / ``hostname``: the agent authenticated (it may run user code
  from now on). A try without it never started: a restart may revoke its token and launch
  it again in the same try, and the late agent is refused before it runs anything.
- ``reported_at`` / ``report``: the state the agent reported (JSON of the scheduler's
  event). The scheduler applies it; after a crash the restarted scheduler applies it from
  here, and a report retried by the agent is answered again, never applied twice.

Each change is one conditional ``UPDATE``/``DELETE`` on the row, so a revocation and an
agent's call racing on two servers (or on a dying and a restarted one) are ordered by the
database: exactly one of them wins.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import upsert
from leoflow.engine.store.tables import task_token
from leoflow.engine.store.types import utcnow


@dataclass(frozen=True)
class Attempt:
    """The fencing record of a task instance's latest minted try."""

    ti_id: str
    try_number: int
    started_at: datetime | None
    pid: int | None
    hostname: str | None
    reported_at: datetime | None
    report: dict[str, Any] | None

    @property
    def started(self) -> bool:
        return self.started_at is not None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _attempt(row: Any) -> Attempt:
    report = json.loads(row.report) if row.report else None
    return Attempt(ti_id=row.task_instance_id, try_number=int(row.try_number),
                   started_at=row.started_at, pid=row.pid, hostname=row.hostname,
                   reported_at=row.reported_at, report=report)


async def mint_token(conn: AsyncConnection, ti_id: str, try_number: int, *,
                     now: datetime | None = None) -> str:
    """A new random token for ``(ti_id, try_number)``; returns the plain token."""
    token = secrets.token_urlsafe(32)
    fresh = {"try_number": try_number, "token_hash": _digest(token),
             "issued_at": now or utcnow(), "started_at": None, "pid": None, "hostname": None,
             "reported_at": None, "report": None}
    stmt = upsert(conn, task_token).values(task_instance_id=ti_id, **fresh)
    stmt = stmt.on_conflict_do_update(index_elements=[task_token.c.task_instance_id],
                                      set_=fresh)
    await conn.execute(stmt)
    return token


# built once: every agent call checks its token (no statement built per call)
_TOKEN_OF = select(task_token).where(task_token.c.task_instance_id == bindparam("ti_id"))


async def check_token(conn: AsyncConnection, ti_id: str, token: str) -> Attempt | None:
    """The attempt ``token`` belongs to, or None when it is unknown, replaced or revoked."""
    row = (await conn.execute(_TOKEN_OF, {"ti_id": ti_id})).first()
    if row is None or not hmac.compare_digest(row.token_hash, _digest(token)):
        return None
    return _attempt(row)


async def verify_token(conn: AsyncConnection, ti_id: str, token: str) -> int | None:
    """The try number the token was minted for, or None when it is unknown or revoked."""
    found = await check_token(conn, ti_id, token)
    return None if found is None else found.try_number


def _mine(ti_id: str, token: str, try_number: int) -> Any:
    return and_(task_token.c.task_instance_id == ti_id,
                task_token.c.token_hash == _digest(token),
                task_token.c.try_number == try_number)


async def record_start(conn: AsyncConnection, ti_id: str, token: str, try_number: int, *,
                       pid: int | None, hostname: str | None,
                       now: datetime | None = None) -> bool:
    """The agent holding ``token`` authenticated: False when the token was revoked or
    replaced meanwhile (the agent must then not run), or its try already reported."""
    result = await conn.execute(
        update(task_token).where(_mine(ti_id, token, try_number),
                                 task_token.c.reported_at.is_(None))
        .values(started_at=now or utcnow(), pid=pid, hostname=(hostname or None)))
    return result.rowcount == 1


async def record_report(conn: AsyncConnection, ti_id: str, token: str, try_number: int,
                        report: dict[str, Any], *, now: datetime | None = None
                        ) -> dict[str, Any] | None:
    """Keep the try's report; returns the report that stands (the first one: a report the
    agent retries is answered with what was recorded), None when the token is not valid."""
    result = await conn.execute(
        update(task_token).where(_mine(ti_id, token, try_number),
                                 task_token.c.reported_at.is_(None))
        .values(reported_at=now or utcnow(), report=json.dumps(report, default=str)))
    if result.rowcount == 1:
        return report
    found = await check_token(conn, ti_id, token)
    if found is None or found.try_number != try_number or found.report is None:
        return None
    return found.report


async def attempts_of(conn: AsyncConnection, ti_ids: Iterable[str]) -> dict[str, Attempt]:
    """The fencing records of these task instances (those that have one)."""
    ids = list(ti_ids)
    found: dict[str, Attempt] = {}
    for start in range(0, len(ids), 500):
        rows = await conn.execute(select(task_token).where(
            task_token.c.task_instance_id.in_(ids[start:start + 500])))
        found.update((row.task_instance_id, _attempt(row)) for row in rows)
    return found


async def revoke_unstarted(conn: AsyncConnection, ti_id: str, try_number: int) -> bool:
    """Revoke the token of ``ti_id`` unless its try ``try_number`` started: True when no
    agent can start that try any more (revoked, or there was no token), False when its
    agent authenticated first (the try started)."""
    await conn.execute(delete(task_token).where(
        task_token.c.task_instance_id == ti_id,
        or_(task_token.c.try_number != try_number, task_token.c.started_at.is_(None))))
    row = (await conn.execute(select(task_token.c.task_instance_id).where(
        task_token.c.task_instance_id == ti_id))).first()
    return row is None


async def revoke_token(conn: AsyncConnection, ti_id: str) -> None:
    await conn.execute(delete(task_token).where(task_token.c.task_instance_id == ti_id))
