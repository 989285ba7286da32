"""Sensors and deferral through the real path: compile, control plane, trigger runner,
agents and user processes, with real files, a real HTTP server on 127.0.0.1, another DAG's
run and the wall clock.

The DAGs are in ``projects/sensors/dag.py``; where they wait (a folder, a URL) is fixed at
compile time through two environment variables set here before the project is compiled.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "sensors"


class ReadyServer:
    """Answers 503 until ``ready`` is set, then 200 ``{"ready": true}``."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.hits = 0
        self.agents: list[str] = []  # each request's User-Agent: who is asking
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                owner.agents.append(self.headers.get("User-Agent", ""))
                if not owner.ready.is_set():
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"ready": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ready"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def waits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ReadyServer]]:
    folder = tmp_path_factory.mktemp("sensor-waits")
    server = ReadyServer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEOFLOW_E2E_SENSOR_DIR", str(folder))
        patch.setenv("LEOFLOW_E2E_SENSOR_URL", server.url)
        yield folder, server
    server.close()


@pytest.fixture
async def sensors(projects: Projects, waits: tuple[Path, ReadyServer]) -> Prepared:
    return await projects.prepare(PROJECT)


async def start(harness: Harness, prepared: Prepared, dag_id: str, **kwargs):
    await harness.register(prepared, dag_id)
    return await harness.trigger(dag_id, **kwargs)


async def event_of(harness: Harness, kind: str, run, task_id: str, timeout: float = 30.0):
    return await harness.wait_event(
        lambda k, d: k == kind and d.get("run_id") == run.run_id
        and d.get("task_id") == task_id, timeout)


def process_started(result, task_id: str) -> bool:
    """Whether any try of the task ran an agent (it logs 'running <dag>.<task> ...')."""
    return any(r.event.startswith("running ") for records in
               result.logs.get(task_id, {}).values() for r in records
               if r.stream == "agent")


async def test_file_sensors_deferred_poked_and_templated(
        sensors: Prepared, sqlite_url: str, e2e_home: Path, waits) -> None:
    folder, _ = waits
    async with open_plane(e2e_home, sqlite_url) as harness:
        run = await start(harness, sensors, "sensors_files")
        await event_of(harness, "ti.deferred", run, "deferred_file")
        await event_of(harness, "ti.deferred", run, "templated_file")
        await event_of(harness, "ti.running", run, "poked_file")
        await asyncio.sleep(0.5)  # a few pokes find nothing
        (folder / "deferred").mkdir()
        (folder / "deferred" / "a.csv").write_text("x\n")
        (folder / "poked.csv").write_text("x\n")
        (folder / "templated.csv").write_text("x\n")
        assert await harness.wait(run, 60) == "success"
        result = await harness.result(run)
    assert result.states() == dict.fromkeys(
        ["deferred_file", "poked_file", "templated_file"], "success")
    assert not process_started(result, "deferred_file"), "started from its trigger"
    assert process_started(result, "templated_file")  # rendered its path, then deferred
    assert all(t.try_number == 1 for t in result.tasks.values())
    assert any("Poking for file" in line for line in result.lines("poked_file"))


async def test_http_sensors_wait_for_a_200(sensors: Prepared, sqlite_url: str,
                                           e2e_home: Path, waits) -> None:
    _, server = waits
    server.ready.clear()
    async with open_plane(e2e_home, sqlite_url) as harness:
        run = await start(harness, sensors, "sensors_http")
        await event_of(harness, "ti.deferred", run, "http_deferred")
        await event_of(harness, "ti.running", run, "http_poked")
        deadline = time.monotonic() + 20
        # both are asking, and hearing 503: the control plane's trigger (httpx) and the
        # task's own pokes (urllib, in its process), twice, so a 503 reached its log
        while not (sum("urllib" in a for a in server.agents) >= 2
                   and any("httpx" in a for a in server.agents)):
            assert time.monotonic() < deadline, server.agents
            await asyncio.sleep(0.1)
        server.ready.set()
        assert await harness.wait(run, 60) == "success"
        result = await harness.result(run)
    assert result.states() == {"http_deferred": "success", "http_poked": "success"}
    assert not process_started(result, "http_deferred")
    assert any("HTTP 503: still waiting" in line for line in result.lines("http_poked"))


async def test_external_task_sensor_waits_for_another_dags_task(
        sensors: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    when = datetime(2024, 6, 1, tzinfo=UTC)
    async with open_plane(e2e_home, sqlite_url) as harness:
        consumer = await start(harness, sensors, "sensors_consumer", logical_date=when)
        await event_of(harness, "ti.deferred", consumer, "wait_for_produce")
        await asyncio.sleep(0.5)
        assert not any(e[1] == "run.finished" for e in harness.events)
        producer = await start(harness, sensors, "sensors_producer", logical_date=when)
        assert await harness.wait(producer, 60) == "success"
        assert await harness.wait(consumer, 60) == "success"
        result = await harness.result(consumer)
    assert result.states() == {"wait_for_produce": "success"}


async def test_time_delta_sensor_waits_its_delta_without_a_process(
        sensors: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        started = time.monotonic()
        run = await start(harness, sensors, "sensors_time")
        await event_of(harness, "ti.deferred", run, "short_delta")
        assert await harness.wait(run, 60) == "success"
        elapsed = time.monotonic() - started
        result = await harness.result(run)
    assert 1.8 <= elapsed < 15, elapsed
    assert not process_started(result, "short_delta")


async def test_reschedule_frees_the_slot_between_pokes(
        sensors: Prepared, sqlite_url: str, e2e_home: Path, waits) -> None:
    folder, _ = waits
    (folder / "go").unlink(missing_ok=True)
    async with open_plane(e2e_home, sqlite_url) as harness:
        run = await start(harness, sensors, "sensors_reschedule")
        await event_of(harness, "ti.rescheduled", run, "resched")
        assert await harness.wait(run, 60) == "success"
        result = await harness.result(run)
    # max_active_tasks=1: make_go could only run while the sensor was up_for_reschedule
    assert result.states() == {"resched": "success", "make_go": "success"}
    assert result.tasks["resched"].try_number == 1
    pokes = [line for line in result.lines("resched") if line.startswith("poking ")]
    assert len(pokes) >= 2


async def test_task_sensor_poke_return_value_is_the_xcom(
        sensors: Prepared, sqlite_url: str, e2e_home: Path, waits) -> None:
    folder, _ = waits
    (folder / "counter").unlink(missing_ok=True)
    async with open_plane(e2e_home, sqlite_url) as harness:
        run = await start(harness, sensors, "sensors_decorated")
        assert await harness.wait(run, 60) == "success"
        result = await harness.result(run)
    assert result.xcom == {"counted": {"pokes": 3}, "report": "done after 3 pokes"}


async def test_operator_defer_and_task_defer_resume_with_their_events(
        sensors: Prepared, sqlite_url: str, e2e_home: Path, waits) -> None:
    folder, _ = waits
    async with open_plane(e2e_home, sqlite_url) as harness:
        run = await start(harness, sensors, "sensors_defer")
        await event_of(harness, "ti.deferred", run, "waiter")
        await event_of(harness, "ti.deferred", run, "simple")
        # simple's second wait is on a file
        await harness.wait_event(
            lambda k, d: k == "ti.deferred" and d.get("task_id") == "simple"
            and d.get("run_id") == run.run_id and d.get("kind") == "file", 30)
        (folder / "defer.flag").write_text("")
        assert await harness.wait(run, 60) == "success"
        result = await harness.result(run)
    assert result.tasks["waiter"].try_number == 1
    assert result.xcom["waiter"] == {"started": run.run_after.strftime("%Y-%m-%d"),
                                     "event_keys": ["moment"]}
    assert result.xcom["simple"] == {"first": ["moment"], "files": [str(folder / "defer.flag")]}
    assert result.tasks["simple"].try_number == 1
    # replay: the code before the first defer ran in each of the three processes
    assert result.lines("simple").count("before the waits") == 3


async def test_timeouts_fail_without_retry_and_soft_fail_skips(
        sensors: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        run = await start(harness, sensors, "sensors_timeouts")
        assert await harness.wait(run, 60) == "failed"
        result = await harness.result(run)
    assert result.states() == {"times_out": "failed", "soft": "skipped",
                               "deferred_times_out": "failed", "deferred_soft": "skipped",
                               "runtime_times_out[0]": "failed", "runtime_soft[0]": "skipped"}
    for name in ("times_out", "deferred_times_out", "runtime_times_out[0]"):
        assert result.tasks[name].try_number == 1, f"{name} was retried"
        assert "AirflowSensorTimeout" in (result.tasks[name].error or ""), result.tasks[name]


async def test_mapped_sensors_wait_each_for_their_own_input(
        sensors: Prepared, sqlite_url: str, e2e_home: Path, waits) -> None:
    folder, _ = waits
    async with open_plane(e2e_home, sqlite_url) as harness:
        run = await start(harness, sensors, "sensors_mapped")
        for index in (0, 1):
            await harness.wait_event(
                lambda k, d, i=index: k == "ti.deferred" and d.get("run_id") == run.run_id
                and d.get("task_id") == "each_file" and d.get("map_index") == i, 30)
        (folder / "mapped-a.txt").write_text("a")
        await asyncio.sleep(1.0)
        assert not any(e[1] == "run.finished" for e in harness.events)  # b still waits
        (folder / "mapped-b.txt").write_text("b")
        assert await harness.wait(run, 60) == "success"
        result = await harness.result(run)
    assert result.states() == {"at[0]": "success", "at[1]": "success",
                               "each_file[0]": "success", "each_file[1]": "success"}
    assert all(t.try_number == 1 for t in result.tasks.values())

