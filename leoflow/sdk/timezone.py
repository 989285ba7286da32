"""Airflow's ``timezone`` helpers (``airflow.sdk.timezone``, ``airflow.utils.timezone``).

DAG files call ``timezone.datetime(2022, 1, 1)`` for a start date and ``timezone.utcnow()``
in tasks. These are the same functions on the standard library's ``datetime`` and
``zoneinfo``: a naive value is taken as UTC, as Airflow does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

utc = dt.UTC
TIMEZONE = utc


def utcnow() -> dt.datetime:
    """Now, as an aware UTC datetime."""
    return dt.datetime.now(utc)


def datetime(*args: Any, **kwargs: Any) -> dt.datetime:
    """``datetime.datetime(...)`` that is UTC unless ``tzinfo`` says otherwise."""
    kwargs.setdefault("tzinfo", utc)
    return dt.datetime(*args, **kwargs)


def is_localized(value: dt.datetime) -> bool:
    return value.utcoffset() is not None


def is_naive(value: dt.datetime) -> bool:
    return value.utcoffset() is None


def make_aware(value: dt.datetime, timezone: dt.tzinfo | str | None = None) -> dt.datetime:
    """Attach ``timezone`` (UTC by default) to a naive datetime."""
    if not is_naive(value):
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else (timezone or utc)
    return value.replace(tzinfo=zone)


def make_naive(value: dt.datetime, timezone: dt.tzinfo | str | None = None) -> dt.datetime:
    """Convert an aware datetime to ``timezone`` (UTC by default) and drop the zone."""
    if is_naive(value):
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else (timezone or utc)
    return value.astimezone(zone).replace(tzinfo=None)


def convert_to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A naive value is taken as UTC; an aware one is converted."""
    if value is None:
        return None
    return value.replace(tzinfo=utc) if is_naive(value) else value.astimezone(utc)


def coerce_datetime(value: dt.datetime | None,
                    tz: dt.tzinfo | None = None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=tz or utc) if is_naive(value) else value


def parse(text: str, timezone: dt.tzinfo | None = None) -> dt.datetime:
    """An ISO 8601 string as an aware datetime (naive text is taken as UTC)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=timezone or utc) if is_naive(value) else value
