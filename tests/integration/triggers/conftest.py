"""Trigger tests run on the scheduler harness (real store, manual clock, scripted executor)
and add specs for sensors; see tests/integration/scheduler/conftest.py."""

from __future__ import annotations

from typing import Any

from tests.integration.scheduler.conftest import (  # noqa: F401  (fixtures)
    any_harness,
    clock,
    db_url,
    executor,
    harness,
    migrated_postgres_url,
    migrated_sqlite_url,
    postgres_template,
    sqlite_template,
    task,
)


def sensor(task_id: str, *upstream: str, trigger: dict[str, Any] | None = None,
           mode: str = "poke", timeout: float | None = 3600.0, soft_fail: bool = False,
           poke_interval: float = 60.0, **extra: Any) -> dict[str, Any]:
    """A sensor task as the SDK compiles it (``trigger`` set: start from trigger)."""
    return task(task_id, *upstream, operator="sensor",
                sensor={"mode": mode, "poke_interval": poke_interval, "timeout": timeout,
                        "soft_fail": soft_fail, "exponential_backoff": False,
                        "max_wait": None, "trigger": trigger}, **extra)


def time_trigger(**kwargs: Any) -> dict[str, Any]:
    return {"kind": "time", "kwargs": kwargs}


def trigger(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"kind": kind, "kwargs": kwargs}


async def settle(h: Any) -> None:
    """The scheduler, the scripted executor and the trigger runner's polls are all done."""
    for _ in range(20):
        await h.settle()
        await h.scheduler.triggers.idle()
        await h.settle()
        if h.scheduler.queue.empty() and not h.scheduler.triggers._polls:
            return


async def advance(h: Any, seconds: float) -> None:
    h.clock.advance(seconds)
    await settle(h)
