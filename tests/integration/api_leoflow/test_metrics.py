"""/metrics: what a scrape shows after real work, the scheduling-delay rules, the API
latency middleware and the JSON access log."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from leoflow.engine.api.metrics import (
    JsonLogFormatter,
    Metrics,
    SchedulingDelays,
    install_request_middleware,
)
from leoflow.engine.store import runs
from tests.integration.api_leoflow.conftest import bearer, make_app

OP = bearer("op-token")
NAMES = {
    "leoflow_dag_runs", "leoflow_task_instances", "leoflow_scheduling_delay_seconds",
    "leoflow_task_duration_seconds", "leoflow_executor_slots_in_use",
    "leoflow_executor_slots_total", "leoflow_xcom_pushed_bytes", "leoflow_xcom_pushes",
    "leoflow_api_request_duration_seconds",
}


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of one unauthenticated scrape."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_scrape_needs_no_token_and_names_every_metric(client):
    response = await client.get("/metrics")
    assert response.status_code == 200
    families = {f.name for f in text_string_to_metric_families(response.text)}
    assert families >= NAMES
    samples = await scrape(client)
    for state in ("queued", "running", "success", "failed"):
        assert ("leoflow_dag_runs", (("state", state),)) in samples
    assert value(samples, "leoflow_task_instances", state="none") == 0
    assert value(samples, "leoflow_executor_slots_total") == 8


async def test_after_a_real_run(client, hello, plane):
    """Push hello (with its source), build its environment, run it through real agents."""
    control, _metrics = plane
    body = {**hello.document("hello"), "source_code": hello.source}
    assert (await client.post("/api/leoflow/dags", json=body, headers=OP)).status_code == 201
    await control.environments.ensure("hello", hello.document("hello")["python_version"], [])
    await control.operations.set_paused("hello", False)
    run = await control.operations.trigger_run("hello")
    deadline = time.monotonic() + 60
    while True:
        async with control.store.connect() as conn:
            state = (await runs.get_run(conn, "hello", run.run_id)).state
        if state in ("success", "failed") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert state == "success"
    await control.scheduler.idle()
    await _metrics._delays.drain()

    samples = await scrape(client)
    assert value(samples, "leoflow_dag_runs", state="success") == 1
    assert value(samples, "leoflow_dag_runs", state="running") == 0
    assert value(samples, "leoflow_task_instances", state="success") == 2
    assert value(samples, "leoflow_task_duration_seconds_count", state="success") == 2
    assert value(samples, "leoflow_task_duration_seconds_sum", state="success") > 0
    assert value(samples, "leoflow_scheduling_delay_seconds_count") == 2
    # an event-driven scheduler: well under a second from ready to queued, here
    assert value(samples, "leoflow_scheduling_delay_seconds_bucket", le="1.0") == 2
    assert value(samples, "leoflow_xcom_pushes_total") == 2
    # make_greeting returns "Hello, Leoflow!" (a JSON string of 17 bytes) and shout its
    # upper-cased form: both counted with their JSON encoding.
    assert value(samples, "leoflow_xcom_pushed_bytes_total") >= 2 * len('"Hello, Leoflow!"')
    assert not any(name == "leoflow_executor_slots_in_use" and v for (name, _), v
                   in samples.items())
    assert value(samples, "leoflow_api_request_duration_seconds_count", method="POST",
                 route="/api/leoflow/dags", status="201") == 1


async def test_slots_in_use_count_queued_and_running_instances(client, hello, plane):
    control, _ = plane
    await client.post("/api/leoflow/dags", json=hello.document("hello"), headers=OP)
    await control.operations.set_paused("hello", False)
    # No environment was built: the agent fails at once, but the instance is queued first.
    await control.operations.trigger_run("hello")
    await control.scheduler.idle()
    samples = await scrape(client)
    in_use = sum(v for (name, _), v in samples.items()
                 if name == "leoflow_executor_slots_in_use")
    counted = sum(value(samples, "leoflow_task_instances", state=s)
                  for s in ("queued", "running"))
    assert in_use == counted


async def test_latency_is_labelled_by_route_template_and_status(client, hello):
    await client.post("/api/leoflow/dags", json=hello.document("hello"), headers=OP)
    for _ in range(3):
        await client.get("/api/leoflow/dags/hello/versions/1", headers=OP)
    await client.get("/api/leoflow/dags/other/versions/1", headers=OP)
    await client.get("/no/such/page")
    await client.get("/api/leoflow/dags/hello/versions")  # no token
    samples = await scrape(client)
    route = "/api/leoflow/dags/{dag_id}/versions/{version_number}"
    count = "leoflow_api_request_duration_seconds_count"
    assert value(samples, count, method="GET", route=route, status="200") == 3
    assert value(samples, count, method="GET", route=route, status="404") == 1
    assert value(samples, count, method="GET", route="<unmatched>", status="404") == 1
    assert value(samples, count, method="GET", route="/api/leoflow/dags/{dag_id}/versions",
                 status="401") == 1
    assert not any("hello" in str(labels) for (_n, labels) in samples)


async def test_each_app_has_its_own_registry(plane, hello):
    control, _ = plane
    apps = [make_app(control, Metrics()), make_app(control, Metrics())]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a),
                                 base_url="http://leoflow.test") for a in apps]
    try:
        for _ in range(4):
            await clients[0].get("/api/leoflow/dags/x/versions", headers=OP)
        first, second = await scrape(clients[0]), await scrape(clients[1])
        key = dict(method="GET", route="/api/leoflow/dags/{dag_id}/versions", status="404")
        assert value(first, "leoflow_api_request_duration_seconds_count", **key) == 4
        assert value(second, "leoflow_api_request_duration_seconds_count", **key) == 0
    finally:
        for c in clients:
            await c.aclose()


async def test_the_json_access_log_has_one_line_per_request(plane, hello, caplog):
    control, _ = plane
    app = make_app(control)
    install_request_middleware(app, Metrics(), access_log_enabled=True)
    caplog.set_level(logging.INFO, logger="leoflow.api.access")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://leoflow.test") as http:
        await http.post("/api/leoflow/dags", json=hello.document("hello"), headers=OP)
        await http.get("/api/leoflow/dags/hello/versions/1", headers=bearer("viewer-token"))
        await http.get("/api/leoflow/dags/hello/versions/1")
    records = [r for r in caplog.records if r.name == "leoflow.api.access"]
    lines = [json.loads(JsonLogFormatter().format(r)) for r in records]
    assert [(x["method"], x["path"], x["status"], x["user"]) for x in lines] == [
        ("POST", "/api/leoflow/dags", 201, "olivia"),
        ("GET", "/api/leoflow/dags/{dag_id}/versions/{version_number}", 200, "victor"),
        ("GET", "/api/leoflow/dags/{dag_id}/versions/{version_number}", 401, None),
    ]
    for line in lines:
        assert line["level"] == "INFO" and line["logger"] == "leoflow.api.access"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert line["time"].endswith("Z")


def test_the_json_formatter_escapes_messages():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, 'say "%s"', ("hi\n",), None)
    line = JsonLogFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["message"] == 'say "hi\n"'


# -- the scheduling-delay rules, on events with chosen times ---------------------------------
GRAPH = {"extract": (), "left": ("extract",), "right": ("extract",), "join": ("left", "right")}


class Delays:
    def __init__(self, graph: dict[str, tuple[str, ...]] | None = GRAPH) -> None:
        self.observed: list[float] = []
        self.tracker = SchedulingDelays(self.observed.append)

        async def load(dag_id: str, run_id: str) -> Any:
            return graph

        self.tracker._load = load

    async def __call__(self, *events: tuple[str, str, float, dict[str, Any]]) -> list[float]:
        for kind, task, at, extra in events:
            data = {"dag_id": "d", "run_id": "r", "task_id": task, "map_index": -1, **extra}
            self.tracker.event(kind, data, at)
        await self.tracker.drain()
        return [round(d, 6) for d in self.observed]


def ev(kind: str, task: str = "", at: float = 0.0, **extra: Any) -> tuple:
    return (kind, task, at, extra)


async def test_delay_from_run_start_and_from_the_last_upstream():
    delays = Delays()
    observed = await delays(
        ev("run.running", at=10.0),
        ev("ti.queued", "extract", 10.5),
        ev("ti.finished", "extract", 12.0, state="success"),
        ev("ti.queued", "left", 12.25), ev("ti.queued", "right", 12.5),
        ev("ti.finished", "left", 13.0, state="success"),
        ev("ti.finished", "right", 20.0, state="success"),
        ev("ti.queued", "join", 20.125))
    assert observed == [0.5, 0.25, 0.5, 0.125]


async def test_mapped_upstreams_count_from_their_last_instance():
    delays = Delays({"make": (), "work": ("make",), "sum": ("work",)})
    observed = await delays(
        ev("run.running", at=0.0),
        ev("ti.finished", "make", 1.0),
        ev("ti.queued", "work", 1.5, map_index=0), ev("ti.queued", "work", 1.5, map_index=1),
        ev("ti.finished", "work", 2.0, map_index=0),
        ev("ti.finished", "work", 5.0, map_index=1),
        ev("ti.queued", "sum", 5.25))
    assert observed == [0.5, 0.5, 0.25]


async def test_retries_are_not_scheduling_delay_but_a_cleared_run_is():
    delays = Delays()
    observed = await delays(
        ev("run.running", at=0.0),
        ev("ti.queued", "extract", 1.0),
        ev("ti.finished", "extract", 2.0, state="up_for_retry"),
        ev("ti.queued", "extract", 302.0),  # the retry, after retry_delay: not observed
        ev("ti.finished", "extract", 303.0, state="success"),
        ev("run.finished", at=310.0, state="success"),
        ev("run.running", at=400.0),  # cleared: the run starts again
        ev("ti.queued", "extract", 400.5),
        ev("ti.finished", "extract", 401.0, state="success"),
        ev("ti.queued", "left", 401.25))
    assert observed == [1.0, 0.5, 0.25]


async def test_unknown_starting_points_are_skipped():
    delays = Delays()
    # A control plane that restarted mid-run saw neither the run start nor extract's end.
    assert await delays(ev("ti.queued", "left", 5.0), ev("ti.queued", "extract", 5.0)) == []
    gone = Delays(graph=None)  # the run was deleted before its graph was read
    assert await gone(ev("run.running", at=0.0), ev("ti.queued", "extract", 1.0)) == []


async def test_the_background_follower_handles_events_as_they_come():
    observed: list[float] = []
    tracker = SchedulingDelays(observed.append)

    async def load(dag_id: str, run_id: str) -> Any:
        await asyncio.sleep(0.01)  # a store read
        return GRAPH

    tracker.start(load)
    try:
        tracker.event("run.running", {"dag_id": "d", "run_id": "r"}, 1.0)
        tracker.event("ti.queued", {"dag_id": "d", "run_id": "r", "task_id": "extract"}, 1.25)
        for _ in range(100):
            if observed:
                break
            await asyncio.sleep(0.01)
    finally:
        await tracker.stop()
    assert observed == [0.25]


def test_durations_come_from_running_to_finished():
    metrics = Metrics()
    metrics.listener("ti.finished", {"ti_id": "never-ran", "dag_id": "d", "run_id": "r",
                                     "task_id": "t", "state": "upstream_failed"})
    metrics.listener("ti.running", {"ti_id": "a", "dag_id": "d", "run_id": "r",
                                    "task_id": "t"})
    metrics.listener("ti.finished", {"ti_id": "a", "dag_id": "d", "run_id": "r",
                                     "task_id": "t", "state": "failed"})
    text = metrics.render().decode()
    assert 'leoflow_task_duration_seconds_count{state="failed"} 1.0' in text
    assert "upstream_failed" not in text


async def test_runs_that_never_finish_are_forgotten_oldest_first(monkeypatch):
    from leoflow.engine.api import metrics as module

    monkeypatch.setattr(module, "MAX_TRACKED_RUNS", 3)
    delays = Delays()
    for n in range(5):
        delays.tracker.event("run.running", {"dag_id": "d", "run_id": f"r{n}"}, float(n))
        delays.tracker.event("ti.queued", {"dag_id": "d", "run_id": f"r{n}",
                                           "task_id": "extract"}, n + 0.5)
    await delays.tracker.drain()
    assert delays.observed == [0.5] * 5
    assert list(delays.tracker._seen) == [("d", "r2"), ("d", "r3"), ("d", "r4")]
    assert set(delays.tracker._graphs) <= set(delays.tracker._seen)
