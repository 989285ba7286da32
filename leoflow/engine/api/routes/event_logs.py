"""Routes: Airflow 3 event log (``/api/v2/eventLogs``), read from the audit table.

Only the events of the caller's tenant are listed (``leoflow.engine.auth.events`` says how
an event belongs to a tenant). Needs READ.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.routes.auth import MAX_INT32, Paging, paging
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth import events
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services.reads import read
from leoflow.engine.services.rows import AuditLogRow

router = APIRouter(prefix="/api/v2/eventLogs", tags=["Event Log"])

ORDER_FIELDS = {"id": "id", "event_log_id": "id", "when": "occurred_at",
                "dttm": "occurred_at", "event": "event", "owner": "username",
                "dag_id": "dag_id"}
Int32Query = Query(None, ge=-MAX_INT32 - 1, le=MAX_INT32)


class EventLogResponse(BaseModel):
    event_log_id: int
    when: datetime
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int | None
    try_number: int | None
    event: str
    logical_date: datetime | None = None
    owner: str | None
    extra: str | None
    dag_display_name: str | None = None
    task_display_name: str | None = None


class EventLogCollectionResponse(BaseModel):
    event_logs: list[EventLogResponse]
    total_entries: int


def _response(row: AuditLogRow) -> EventLogResponse:
    return EventLogResponse(
        event_log_id=row.id, when=row.occurred_at, dag_id=row.dag_id, task_id=row.task_id,
        run_id=row.run_id, map_index=row.map_index, try_number=row.try_number,
        event=row.event, owner=row.username,
        extra=None if row.extra is None else json.dumps(row.extra),
        dag_display_name=row.dag_id, task_display_name=row.task_id)


def _aware(value: datetime | None) -> datetime | None:
    # A date without a zone is taken as UTC (the store refuses naive datetimes).
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(400, f"date {value.isoformat()} is out of range") from None


def _has_nul(*values: str | list[str] | None) -> bool:
    for value in values:
        items = [value] if isinstance(value, str) else value or []
        if any("\x00" in item for item in items):
            return True
    return False


@router.get("", response_model=EventLogCollectionResponse)
async def get_event_logs(
    page: Paging = Depends(paging),
    dag_id: str | None = None, task_id: str | None = None, run_id: str | None = None,
    map_index: int | None = Int32Query, try_number: int | None = Int32Query,
    owner: str | None = None, event: str | None = None,
    excluded_events: list[str] | None = Query(None),
    included_events: list[str] | None = Query(None),
    before: datetime | None = None, after: datetime | None = None,
    who: Principal = Depends(require(READ)), ctx: ApiContext = Depends(api_context),
) -> EventLogCollectionResponse:
    order = page.order(ORDER_FIELDS, "id")
    wanted: list[str] | None = [event] if event else None
    if included_events:
        wanted = [e for e in included_events if wanted is None or e in wanted]
    if wanted == [] or _has_nul(dag_id, task_id, run_id, owner, wanted, excluded_events):
        return EventLogCollectionResponse(event_logs=[], total_entries=0)  # matches nothing
    result = await read(
        ctx.store, events.list_visible_events, who.tenant, dag_id=dag_id, run_id=run_id,
        task_id=task_id, map_index=map_index, try_number=try_number, owner=owner,
        event=wanted, excluded_events=excluded_events, after=_aware(after),
        before=_aware(before), limit=page.limit, offset=page.offset, order=order)
    return EventLogCollectionResponse(event_logs=[_response(r) for r in result.items],
                                      total_entries=result.total)


@router.get("/{event_log_id}", response_model=EventLogResponse)
async def get_event_log(event_log_id: int = Path(ge=0, le=MAX_INT32),
                        who: Principal = Depends(require(READ)),
                        ctx: ApiContext = Depends(api_context)) -> EventLogResponse:
    row = await read(ctx.store, events.get_visible_event, who.tenant, event_log_id)
    if row is None:
        raise NotFound(f"The Event Log with id: `{event_log_id}` not found")
    return _response(row)
