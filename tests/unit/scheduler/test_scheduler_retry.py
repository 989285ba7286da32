"""Retry timing: constant delay, Airflow's hashed exponential backoff, and its caps."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

import pytest

from leoflow.engine.scheduler.retry import MAX_RETRY_DELAY, next_retry_at, retry_delay
from leoflow.engine.spec.model import TaskSpec

LOGICAL = datetime(2026, 11, 24, tzinfo=UTC)
END = datetime(2026, 11, 24, 0, 5, 30, tzinfo=UTC)


def delay(try_number: int, *, base: float = 300.0, backoff: bool | float = True,
          cap: float | None = None, logical: datetime | None = LOGICAL) -> timedelta:
    return retry_delay(retry_delay=base, exponential_backoff=backoff, max_retry_delay=cap,
                       try_number=try_number, dag_id="etl", task_id="load",
                       logical_date=logical)


def test_constant_delay_without_backoff() -> None:
    for n in (1, 2, 5):
        assert delay(n, backoff=False) == timedelta(minutes=5)
    # Airflow applies max_retry_delay only to backoff.
    assert delay(3, backoff=False, cap=60) == timedelta(minutes=5)


def test_backoff_matches_airflows_formula_exactly() -> None:
    # The first retry of try 1: base 300 s, jitter from sha1("etl#load#<logical>#1").
    key = "etl#load#2026-11-24 00:00:00+00:00#1"
    expected = 300 + int(hashlib.sha1(key.encode()).hexdigest(), 16) % 300
    assert delay(1) == timedelta(seconds=expected)


@pytest.mark.parametrize("try_number", [1, 2, 3, 4, 5, 6])
def test_backoff_doubles_with_each_try_within_its_jitter_window(try_number: int) -> None:
    base = 300 * 2 ** (try_number - 1)
    got = delay(try_number).total_seconds()
    assert base <= got < 2 * base
    assert got == int(got)  # whole seconds, as Airflow computes them


def test_backoff_is_deterministic_per_task_instance_and_try() -> None:
    assert delay(3) == delay(3)
    other = retry_delay(retry_delay=300, exponential_backoff=True, max_retry_delay=None,
                        try_number=3, dag_id="etl", task_id="other", logical_date=LOGICAL)
    assert 1200 <= other.total_seconds() < 2400
    # Task instances that failed together spread out instead of retrying in lockstep.
    spread = {retry_delay(retry_delay=300, exponential_backoff=True, max_retry_delay=None,
                          try_number=3, dag_id="etl", task_id=f"t{i}",
                          logical_date=LOGICAL) for i in range(20)}
    assert len(spread) > 10


def test_backoff_is_capped_by_max_retry_delay_and_by_one_day() -> None:
    assert delay(6, cap=600) == timedelta(seconds=600)
    assert delay(40).total_seconds() == MAX_RETRY_DELAY
    assert delay(5000).total_seconds() == MAX_RETRY_DELAY  # no overflow


def test_zero_delay_backoff_waits_at_least_a_second() -> None:
    assert delay(1, base=0) == timedelta(seconds=1)  # min_backoff 1, jitter % 1 == 0


def test_null_logical_date_hashes_as_none() -> None:
    key = "etl#load#None#2"
    base = 600
    expected = base + int(hashlib.sha1(key.encode()).hexdigest(), 16) % base
    assert delay(2, logical=None) == timedelta(seconds=expected)


def test_multiplier_form_of_backoff() -> None:
    base = math.ceil(10 * 3 ** 2)
    got = delay(3, base=10, backoff=3.0).total_seconds()
    assert base <= got < 2 * base
    assert delay(3, base=10, backoff=1.0) == timedelta(seconds=10)


def test_next_retry_at_uses_the_task_and_the_end_of_the_failed_try() -> None:
    t = TaskSpec(task_id="load", operator="python", retries=3, retry_delay=60.0)
    assert next_retry_at(t, dag_id="etl", logical_date=LOGICAL, try_number=1, end_date=END) \
        == END + timedelta(seconds=60)
    t = TaskSpec(task_id="load", operator="python", retries=3, retry_delay=300.0,
                 retry_exponential_backoff=True, max_retry_delay=400.0)
    at = next_retry_at(t, dag_id="etl", logical_date=LOGICAL, try_number=2, end_date=END)
    assert at == END + timedelta(seconds=400)
