"""Column types shared by the tables: aware UTC timestamps and portable JSON.

SQLite has no timestamp-with-time-zone type: SQLAlchemy stores a ``DateTime`` there as text
and returns naive values. ``UTCDateTime`` makes both dialects behave the same way: it refuses
naive datetimes on the way in (a naive value is a bug: whose local time is it?), stores UTC,
and always hands back timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
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
