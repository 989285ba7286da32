"""Pure parts of the store: the UTC column type, URLs, content hashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from leoflow.engine.store import StoreUnavailableError, UTCDateTime, mask_url, normalize_url
from leoflow.engine.store.dags import content_hash
from leoflow.engine.store.database import sqlite_path

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
aware = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=offsets
)


@given(aware)
def test_utc_datetime_round_trips_the_instant_on_sqlite(value: datetime) -> None:
    kind = UTCDateTime()
    stored = kind.process_bind_param(value, SQLITE)
    assert stored is not None and stored.tzinfo is None  # naive UTC text on SQLite
    back = kind.process_result_value(stored, SQLITE)
    assert back == value and back.tzinfo is UTC


@given(aware)
def test_utc_datetime_keeps_aware_values_on_postgres(value: datetime) -> None:
    kind = UTCDateTime()
    stored = kind.process_bind_param(value, POSTGRES)
    assert stored == value and stored.tzinfo is UTC
    assert kind.process_result_value(value, POSTGRES).tzinfo is UTC


def test_utc_datetime_refuses_naive_and_non_datetimes() -> None:
    kind = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        kind.process_bind_param(datetime(2026, 1, 1), SQLITE)
    with pytest.raises(TypeError):
        kind.process_bind_param("2026-01-01", SQLITE)  # type: ignore[arg-type]
    assert kind.process_bind_param(None, SQLITE) is None
    assert kind.process_result_value(None, SQLITE) is None


@pytest.mark.parametrize(
    ("given_url", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_urls_get_the_async_driver(given_url: str, driver: str) -> None:
    assert normalize_url(given_url).drivername == driver


def test_other_databases_and_garbage_are_refused() -> None:
    with pytest.raises(StoreUnavailableError, match="only SQLite"):
        normalize_url("mysql://u:pw@h/db")
    with pytest.raises(StoreUnavailableError, match="not a database URL"):
        normalize_url("leoflow")


def test_mask_url_hides_the_password() -> None:
    assert mask_url("postgresql+asyncpg://leo:s3cret@h/db") == "postgresql+asyncpg://leo:***@h/db"
    assert mask_url("::") == "<invalid URL>"


def test_sqlite_path() -> None:
    assert str(sqlite_path(normalize_url("sqlite:////tmp/a/x.db"))) == "/tmp/a/x.db"
    assert sqlite_path(normalize_url("sqlite://")) is None
    assert sqlite_path(normalize_url("sqlite:///:memory:")) is None
    assert sqlite_path(normalize_url("postgresql://h/db")) is None


def test_content_hash_is_canonical() -> None:
    a = {"dag_id": "x", "tasks": [{"task_id": "t", "retries": 1}], "tags": ["é"]}
    b = {"tags": ["é"], "tasks": [{"retries": 1, "task_id": "t"}], "dag_id": "x"}
    assert content_hash(a) == content_hash(b)
    assert content_hash(a).startswith("sha256:") and len(content_hash(a)) == 71
    assert content_hash(a) != content_hash({**a, "tags": []})
    assert content_hash({**a, "content_hash": "sha256:abc"}) == "sha256:abc"
