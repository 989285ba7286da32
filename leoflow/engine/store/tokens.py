"""Per-try agent tokens: minted when a try is queued, stored hashed, revoked at its end.

Only the SHA-256 of a token is stored; the plain token exists in the agent's environment
alone. A token is valid for one task instance and one try: minting the next try's token
replaces the row, so an agent left over from an earlier try is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import upsert
from leoflow.engine.store.tables import task_token
from leoflow.engine.store.types import utcnow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def mint_token(conn: AsyncConnection, ti_id: str, try_number: int, *,
                     now: datetime | None = None) -> str:
    """A new random token for ``(ti_id, try_number)``; returns the plain token."""
    token = secrets.token_urlsafe(32)
    stmt = upsert(conn, task_token).values(task_instance_id=ti_id, try_number=try_number,
                                           token_hash=_digest(token), issued_at=now or utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=[task_token.c.task_instance_id],
        set_={"try_number": stmt.excluded.try_number, "token_hash": stmt.excluded.token_hash,
              "issued_at": stmt.excluded.issued_at})
    await conn.execute(stmt)
    return token


async def verify_token(conn: AsyncConnection, ti_id: str, token: str) -> int | None:
    """The try number the token was minted for, or None when it is unknown or revoked."""
    row = (await conn.execute(select(task_token).where(
        task_token.c.task_instance_id == ti_id))).first()
    if row is None or not hmac.compare_digest(row.token_hash, _digest(token)):
        return None
    return int(row.try_number)


async def revoke_token(conn: AsyncConnection, ti_id: str) -> None:
    await conn.execute(delete(task_token).where(task_token.c.task_instance_id == ti_id))
