"""Small helpers shared by the repositories (not part of the store's public face)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, CursorResult, Select, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store.rows import Page
from leoflow.errors import InvariantError

R = TypeVar("R")


def upsert(conn: AsyncConnection, table: Table) -> Any:
    """``INSERT`` with ``on_conflict_do_update``/``do_nothing`` for the connection's dialect.

    SQLite and PostgreSQL spell ``ON CONFLICT`` the same way and SQLAlchemy gives both the
    same API, so the repositories stay one code path.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def inserted_id(result: CursorResult[Any], table: str) -> int:
    """The primary key of the row an ``INSERT`` just wrote (every table's key is an integer)."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise InvariantError(f"the INSERT into {table} returned no primary key")
    return int(key[0])


def written(row: R | None, what: str) -> R:
    """A row this transaction has just written, read back: its absence is a bug of ours."""
    if row is None:
        raise InvariantError(f"{what} was written in this transaction but cannot be read back")
    return row


def to_rows(cls: Callable[..., R], rows: Iterable[Any]) -> list[R]:
    return [cls(**row._mapping) for row in rows]


def as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Filters accept one value or several: ``state="queued"`` or ``state=("queued", ...)``."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def order_by(
    table: Table,
    spec: str,
    allowed: Sequence[str],
    tiebreak: Sequence[str],
) -> list[ColumnElement[Any]]:
    """Turn ``"-run_after"`` into ``ORDER BY run_after DESC`` plus a stable tie-breaker.

    Only ``allowed`` column names are accepted (the value may come from an API query
    string); a ``ValueError`` names the choices otherwise.
    """
    descending = spec.startswith("-")
    name = spec.lstrip("-+")
    if name not in allowed:
        raise ValueError(f"cannot order by {name!r}; choose one of {', '.join(allowed)}")
    column = table.c[name]
    clauses: list[ColumnElement[Any]] = [column.desc() if descending else column.asc()]
    for extra in tiebreak:
        if extra != name:
            clauses.append(table.c[extra].desc() if descending else table.c[extra].asc())
    return clauses


async def fetch_page(
    conn: AsyncConnection,
    query: Select[Any],
    cls: Callable[..., R],
    *,
    order: Sequence[ColumnElement[Any]],
    limit: int | None,
    offset: int,
) -> Page[R]:
    """Run ``query`` for one page and count every matching row (``total_entries``)."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    total = (
        await conn.execute(select(func.count()).select_from(query.order_by(None).subquery()))
    ).scalar_one()
    paged = query.order_by(*order).offset(offset)
    if limit is not None:
        paged = paged.limit(limit)
    rows = (await conn.execute(paged)).all()
    return Page(items=tuple(to_rows(cls, rows)), total=int(total))


def only(values: Mapping[str, Any], allowed: Iterable[str], what: str) -> dict[str, Any]:
    """Reject unknown field names in a partial update (typos must not pass silently)."""
    allowed_set = set(allowed)
    unknown = sorted(set(values) - allowed_set)
    if unknown:
        raise TypeError(f"cannot update {what} field(s) {', '.join(unknown)}")
    return dict(values)
