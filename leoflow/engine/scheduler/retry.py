"""When a failed try may run again: Airflow's ``next_retry_datetime``, reproduced exactly.

Without backoff the wait is ``retry_delay``. With exponential backoff the base grows as
``retry_delay * 2 ** (try_number - 1)`` (rounded up, at least 1 s), and a deterministic
jitter spreads tasks that failed together: the wait is ``base + sha1(…) % base`` seconds,
i.e. somewhere in ``[base, 2 * base)``, where the hash is taken over
``"{dag_id}#{task_id}#{logical_date}#{try_number}"`` exactly as Airflow formats it. The same
try of the same task instance therefore always waits the same time, on any scheduler
replica. The result is capped by Airflow's ``max_task_retry_delay`` (one day) and then by the
task's ``max_retry_delay``.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

from leoflow.engine.spec.model import TaskSpec

MAX_RETRY_DELAY = 24 * 60 * 60
"""Airflow's ``[core] max_task_retry_delay`` default, in seconds: no backoff waits longer."""


def retry_delay(
    *,
    retry_delay: float,
    exponential_backoff: bool | float,
    max_retry_delay: float | None,
    try_number: int,
    dag_id: str,
    task_id: str,
    logical_date: datetime | None,
) -> timedelta:
    """How long to wait after try ``try_number`` failed.

    ``exponential_backoff`` is Airflow's ``retry_exponential_backoff``: ``True`` doubles the
    wait each try; a number is used as the multiplier (newer Airflow); ``False``, ``0`` or
    ``1`` mean a constant ``retry_delay``. ``logical_date`` may be None (Airflow 3 manual
    runs); it enters the jitter hash as Airflow prints it.
    """
    delay = timedelta(seconds=retry_delay)
    multiplier = _multiplier(exponential_backoff)
    if multiplier == 1.0:
        return delay
    try:
        min_backoff = math.ceil(delay.total_seconds() * (multiplier ** (try_number - 1)))
    except OverflowError:
        min_backoff = MAX_RETRY_DELAY
    # A zero delay would make the modulo below divide by zero.
    min_backoff = max(min_backoff, 1)
    key = f"{dag_id}#{task_id}#{_airflow_str(logical_date)}#{try_number}"
    ti_hash = int(hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest(), 16)
    modded_hash = min_backoff + ti_hash % min_backoff
    delay = timedelta(seconds=min(modded_hash, MAX_RETRY_DELAY))
    if max_retry_delay:
        delay = min(timedelta(seconds=max_retry_delay), delay)
    return delay


def next_retry_at(task: TaskSpec, *, dag_id: str, logical_date: datetime | None,
                  try_number: int, end_date: datetime) -> datetime:
    """When the failed try ``try_number`` of ``task`` (which ended at ``end_date``) may be
    retried; pass it to ``evaluate_run`` as the task instance's ``not_before``."""
    return end_date + retry_delay(
        retry_delay=task.retry_delay,
        exponential_backoff=task.retry_exponential_backoff,
        max_retry_delay=task.max_retry_delay,
        try_number=try_number,
        dag_id=dag_id,
        task_id=task.task_id,
        logical_date=logical_date,
    )


def _multiplier(value: bool | float) -> float:
    if value is True:
        return 2.0
    if value is False or not value or value < 0:
        return 1.0
    return float(value)


def _airflow_str(value: datetime | None) -> str:
    """``str()`` of a logical date as Airflow holds it: a UTC datetime (pendulum's ``str`` is
    ``isoformat(" ")``, the same as the standard library's), or ``"None"``."""
    if value is None:
        return "None"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(" ")
