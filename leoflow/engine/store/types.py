"""Column types shared by the tables: aware UTC timestamps and portable JSON.

SQLite has no timestamp-with-time-zone type: SQLAlchemy stores a ``DateTime`` there as text
and returns naive values. ``UTCDateTime`` makes both dialects behave the same way: it refuses
naive datetimes on the way in (a naive value is a bug: whose local time is it?), stores UTC,
and always hands back timezone-aware UTC datetimes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind the store accepts)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A ``TIMESTAMP WITH TIME ZONE`` that always round-trips aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass an aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # Stored as fixed-width text without offset, so that string order is time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type(*, none_as_null: bool = False) -> TypeEngine[Any]:
    """JSON on SQLite (text), JSONB on PostgreSQL (indexable, compact).

    ``none_as_null=True`` stores Python ``None`` as SQL ``NULL`` (for optional documents such
    as a run's ``conf``); otherwise ``None`` is the JSON value ``null`` (an XCom may be null).
    """
    return JSON(none_as_null=none_as_null).with_variant(
        JSONB(none_as_null=none_as_null), "postgresql"
    )


class JSONText(TypeDecorator[Any]):
    """JSON kept as TEXT on SQLite, for columns that may hold a bare scalar.

    SQLAlchemy declares SQLite JSON columns as ``JSON``, which SQLite gives NUMERIC affinity:
    the text ``4.0`` is then stored as the integer 4, and a task's float XCom came back as an
    int. A ``TEXT`` column keeps the JSON text as written. Values stored before migration 0006
    may still come back as numbers from the driver; they are returned as they are.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or not isinstance(value, str):
            return value
        return json.loads(value)


def scalar_json_type() -> TypeEngine[Any]:
    """``json_type()`` for a value that may be a bare JSON scalar (an XCom): TEXT on SQLite
    (see ``JSONText``), JSONB on PostgreSQL."""
    return JSONText().with_variant(JSONB(none_as_null=False), "postgresql")
