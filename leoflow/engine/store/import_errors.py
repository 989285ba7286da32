"""Import errors: why a DAG file could not be compiled, shown until the file compiles again.

The compiler owns a file's errors: after each compile it calls ``replace_for_file`` with
the errors it found (none when the file is fine). Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page, inserted_id, order_by
from leoflow.engine.store.rows import ImportErrorRow, Page
from leoflow.engine.store.tables import import_error
from leoflow.engine.store.types import utcnow

IMPORT_ERROR_ORDER_FIELDS = ("id", "timestamp", "filename")


async def record_import_error(
    conn: AsyncConnection,
    *,
    filename: str,
    message: str,
    stack_trace: str = "",
    dag_id: str | None = None,
    timestamp: datetime | None = None,
) -> ImportErrorRow:
    """Add one error for ``filename``; returns it with its id (the API's import_error_id)."""
    values: dict[str, Any] = {
        "filename": filename,
        "dag_id": dag_id,
        "message": message,
        "stack_trace": stack_trace,
        "timestamp": timestamp or utcnow(),
    }
    result = await conn.execute(import_error.insert().values(**values))
    return ImportErrorRow(id=inserted_id(result, "import_error"), **values)


async def clear_for_file(conn: AsyncConnection, filename: str) -> int:
    """Forget the errors of a file (it compiled, or left the workspace); returns how many."""
    result = await conn.execute(delete(import_error).where(import_error.c.filename == filename))
    return result.rowcount


async def replace_for_file(
    conn: AsyncConnection,
    filename: str,
    errors: Sequence[tuple[str, str]],
    *,
    dag_id: str | None = None,
) -> list[ImportErrorRow]:
    """Make ``errors`` (``(message, stack_trace)`` pairs) the only errors of ``filename``."""
    await clear_for_file(conn, filename)
    now = utcnow()
    return [
        await record_import_error(
            conn,
            filename=filename,
            message=message,
            stack_trace=trace,
            dag_id=dag_id,
            timestamp=now,
        )
        for message, trace in errors
    ]


async def get_import_error(conn: AsyncConnection, error_id: int) -> ImportErrorRow | None:
    """One error by id, or ``None``."""
    row = (await conn.execute(select(import_error).where(import_error.c.id == error_id))).first()
    return ImportErrorRow(**row._mapping) if row else None


async def list_import_errors(
    conn: AsyncConnection,
    *,
    filename: str | None = None,
    filename_pattern: str | None = None,
    dag_id: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    order: str = "id",
) -> Page[ImportErrorRow]:
    """Errors matching the filters, one page, with the total.

    ``filename_pattern`` is a case-insensitive substring, as Airflow's API filter.
    """
    query = select(import_error)
    if filename is not None:
        query = query.where(import_error.c.filename == filename)
    if filename_pattern:
        query = query.where(func.lower(import_error.c.filename).contains(filename_pattern.lower()))
    if dag_id is not None:
        query = query.where(import_error.c.dag_id == dag_id)
    clauses = order_by(import_error, order, IMPORT_ERROR_ORDER_FIELDS, ("id",))
    return await fetch_page(conn, query, ImportErrorRow, order=clauses, limit=limit, offset=offset)
