"""Timestamps come back timezone-aware UTC on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError
from storetest import make_dag, make_run

from leoflow.engine.store import Store, runs

PARIS_SUMMER = timezone(timedelta(hours=2))


async def test_aware_utc_round_trip(store: Store) -> None:
    local = datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=PARIS_SUMMER)
    async with store.begin() as conn:
        run = await make_run(conn, await make_dag(conn), logical_date=local, run_after=local)
    async with store.connect() as conn:
        got = await runs.get_run(conn, "etl", run.run_id)
    assert got is not None
    for value in (got.logical_date, got.run_after, got.queued_at):
        assert value is not None and value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert got.logical_date == local  # the same instant...
    assert got.logical_date.hour == 12  # ...expressed in UTC  # type: ignore[union-attr]
    assert got.logical_date.microsecond == 123456  # type: ignore[union-attr]


async def test_comparisons_use_instants_not_wall_clocks(store: Store) -> None:
    base = datetime(2026, 7, 1, 12, tzinfo=UTC)
    async with store.begin() as conn:
        version = await make_dag(conn)
        await make_run(conn, version, run_id="early", run_after=base)
        await make_run(conn, version, run_id="late", run_after=base + timedelta(hours=1))
    async with store.connect() as conn:
        # 13:30 in Paris is 11:30 UTC: before both runs.
        before = await runs.list_runs(
            conn, run_after_lte=datetime(2026, 7, 1, 13, 30, tzinfo=PARIS_SUMMER)
        )
        assert before.total == 0
        # 14:30 in Paris is 12:30 UTC: after "early" only.
        between = await runs.list_runs(
            conn, run_after_lte=datetime(2026, 7, 1, 14, 30, tzinfo=PARIS_SUMMER)
        )
        assert [r.run_id for r in between.items] == ["early"]


async def test_naive_datetimes_are_refused(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        with pytest.raises(StatementError, match="naive datetime"):
            await make_run(conn, version, run_after=datetime(2026, 1, 1))
