"""The log behaviour suite runs on both live fan-out buses: in-process and Redis pub/sub."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leoflow.engine.logs import InProcessLogBus, LogBus, LogStore, RedisLogBus
from tests.integration.xcom.redis_server import run_redis


@pytest.fixture(scope="session")
def log_redis_url() -> Iterator[str]:
    with run_redis() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], LogBus]]:
    """Makes buses of one kind that share their channels (two processes' views)."""
    made: list[Any] = []
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    shared = InProcessLogBus()

    def make() -> LogBus:
        if request.param == "memory":
            return shared
        bus = RedisLogBus(request.getfixturevalue("log_redis_url"), prefix=prefix)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()
    await shared.close()


@pytest.fixture
async def logs(tmp_path: Path, make_bus: Callable[[], LogBus]) -> AsyncIterator[LogStore]:
    store = LogStore(tmp_path / "logs", bus=make_bus())
    yield store
    await store.close()
