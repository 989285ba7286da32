"""Human-in-the-loop rows (``hitl_detail``): a waiting task's request and its answer.

One row per task instance, for its latest try. ``open_request`` is called by the scheduler
in the transaction that parks the try in ``awaiting_input``; ``record_answer`` writes an
answer only while there is none (so a person and the timeout's defaults cannot both
answer). Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.engine.store.tables import dag, hitl_detail, task_instance


@dataclass(frozen=True)
class HitlRow:
    """A request (``subject`` ... ``timeout_at``) and its answer (``responded_at`` ...)."""

    ti_id: str
    try_number: int
    subject: str
    body: str | None
    options: list[str]
    defaults: list[str] | None
    multiple: bool
    params: dict[str, Any]
    assigned_users: list[dict[str, str]]
    created_at: datetime
    timeout_at: datetime | None
    responded_at: datetime | None
    responded_by_user_id: str | None
    responded_by_user_name: str | None
    chosen_options: list[str] | None
    params_input: dict[str, Any] | None

    @property
    def response_received(self) -> bool:
        return self.responded_at is not None


def _row(found: Any) -> HitlRow:
    return HitlRow(**found._mapping)


async def open_request(conn: AsyncConnection, *, ti_id: str, try_number: int,
                       request: Mapping[str, Any], now: datetime,
                       timeout_at: datetime | None) -> HitlRow:
    """Store a try's request (replacing an earlier try's row and its answer)."""
    values: dict[str, Any] = {
        "try_number": try_number, "subject": str(request.get("subject") or ""),
        "body": request.get("body"), "options": list(request.get("options") or []),
        "defaults": (None if request.get("defaults") is None
                     else list(request["defaults"])),
        "multiple": bool(request.get("multiple")),
        "params": dict(request.get("params") or {}),
        "assigned_users": list(request.get("assigned_users") or []),
        "created_at": now, "timeout_at": timeout_at, "responded_at": None,
        "responded_by_user_id": None, "responded_by_user_name": None,
        "chosen_options": None, "params_input": None}
    changed = await conn.execute(update(hitl_detail).where(hitl_detail.c.ti_id == ti_id)
                                 .values(**values))
    if not changed.rowcount:
        await conn.execute(hitl_detail.insert().values(ti_id=ti_id, **values))
    return HitlRow(ti_id=ti_id, **values)


async def get_request(conn: AsyncConnection, ti_id: str) -> HitlRow | None:
    found = (await conn.execute(select(hitl_detail).where(hitl_detail.c.ti_id == ti_id))).first()
    return _row(found) if found else None


async def get_requests(conn: AsyncConnection, ti_ids: Collection[str]) -> dict[str, HitlRow]:
    if not ti_ids:
        return {}
    rows = await conn.execute(select(hitl_detail).where(hitl_detail.c.ti_id.in_(list(ti_ids))))
    return {r.ti_id: _row(r) for r in rows}


async def record_answer(conn: AsyncConnection, ti_id: str, *, try_number: int,
                        chosen_options: list[str], params_input: Mapping[str, Any],
                        now: datetime, user_id: str | None,
                        user_name: str | None) -> bool:
    """Write the answer of ``try_number`` unless one exists; whether it was written."""
    changed = await conn.execute(
        update(hitl_detail)
        .where(and_(hitl_detail.c.ti_id == ti_id, hitl_detail.c.try_number == try_number,
                    hitl_detail.c.responded_at.is_(None)))
        .values(responded_at=now, responded_by_user_id=user_id,
                responded_by_user_name=user_name, chosen_options=list(chosen_options),
                params_input=dict(params_input)))
    return bool(changed.rowcount)


async def list_requests(conn: AsyncConnection, *, tenant: str, dag_id: str | None = None,
                        run_id: str | None = None, task_id: str | None = None,
                        map_index: int | None = None, response_received: bool | None = None,
                        states: Collection[str] | None = None, limit: int | None = 50,
                        offset: int = 0) -> tuple[list[tuple[HitlRow, TaskInstanceRow]], int]:
    """Requests of the tenant's DAGs with their task instances, newest first, and how many
    match in all (``None`` filters match anything)."""
    where = [dag.c.tenant == tenant]
    if dag_id is not None:
        where.append(task_instance.c.dag_id == dag_id)
    if run_id is not None:
        where.append(task_instance.c.run_id == run_id)
    if task_id is not None:
        where.append(task_instance.c.task_id == task_id)
    if map_index is not None:
        where.append(task_instance.c.map_index == map_index)
    if response_received is not None:
        where.append(hitl_detail.c.responded_at.is_not(None) if response_received
                     else hitl_detail.c.responded_at.is_(None))
    if states:
        where.append(task_instance.c.state.in_(list(states)))
    joined = hitl_detail.join(task_instance, task_instance.c.id == hitl_detail.c.ti_id).join(
        dag, dag.c.dag_id == task_instance.c.dag_id)
    total = int((await conn.execute(
        select(func.count()).select_from(joined).where(*where))).scalar_one())
    query = (select(hitl_detail, task_instance).select_from(joined).where(*where)
             .order_by(hitl_detail.c.created_at.desc(), hitl_detail.c.ti_id)
             .offset(offset))
    if limit is not None:
        query = query.limit(limit)
    hitl_names = [c.name for c in hitl_detail.columns]
    ti_columns = list(task_instance.columns)
    out = []
    for found in await conn.execute(query):
        values = list(found)
        row = HitlRow(**dict(zip(hitl_names, values[:len(hitl_names)], strict=True)))
        ti = TaskInstanceRow(**{c.name: v for c, v in zip(
            ti_columns, values[len(hitl_names):], strict=True)})
        out.append((row, ti))
    return out, total


async def count_open(conn: AsyncConnection) -> int:
    """Requests nobody answered yet (any task instance state)."""
    query = select(func.count()).select_from(hitl_detail).where(
        hitl_detail.c.responded_at.is_(None))
    return int((await conn.execute(query)).scalar_one())
