"""Prometheus metrics of one control plane, and the request middleware that feeds the API's.

Everything lives in a per-app ``CollectorRegistry`` (never the global one): several apps can
run in one process (tests, Lite beside a server) without sharing counters.

Where each metric comes from:

* runs and task instances by state, executor slots in use: counted in the store when
  ``/metrics`` is scraped (one indexed ``GROUP BY`` each), so they are right after a restart;
* task duration and scheduling delay: the scheduler's events (``listener``), timed with
  ``time.monotonic()`` when each event is delivered;
* XCom bytes: ``xcom_pushed``, called by the control plane's XCom wrapper on every push;
* API latency: ``install_request_middleware`` (a plain ASGI middleware), by route template
  and status, so ``/api/v2/dags/{dag_id}`` is one series whatever the DAG.

The same middleware writes one JSON line per request (method, path template, status,
duration_ms, user) to the ``leoflow.api.access`` logger when asked (``--log-json``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from leoflow.engine.scheduler.states import DagRunState, TaskInstanceState
from leoflow.engine.services import metrics_reads
from leoflow.engine.services.rows import Store

log = logging.getLogger("leoflow.api.metrics")
access_log = logging.getLogger("leoflow.api.access")

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE = "<unmatched>"
MAX_TRACKED_RUNS = 10_000
MAX_PENDING_EVENTS = 100_000

# Scheduling is event-driven: most delays are milliseconds; waits for a pool or a
# concurrency limit can be minutes.
DELAY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 10.0, 30.0, 60.0, 300.0, 900.0)
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                    1800.0, 3600.0, 7200.0, 21600.0)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)

# Loads a run's task graph (task_id -> upstream task ids), or None if the run is gone.
GraphLoader = Callable[[str, str], Awaitable[Mapping[str, Sequence[str]] | None]]
RunKey = tuple[str, str]


class Metrics:
    """The metrics of one app. Create one per app; see the module docstring."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.dag_runs = Gauge("leoflow_dag_runs", "DAG runs in the store, by state",
                              ["state"], registry=r)
        self.task_instances = Gauge("leoflow_task_instances",
                                    "Task instances in the store, by state (none: not yet "
                                    "scheduled)", ["state"], registry=r)
        self.scheduling_delay = Histogram(
            "leoflow_scheduling_delay_seconds",
            "From a task instance becoming ready (its last upstream finished, or its run "
            "started) to it being queued to an executor; retries are not counted",
            buckets=DELAY_BUCKETS, registry=r)
        self.task_duration = Histogram(
            "leoflow_task_duration_seconds",
            "Duration of a task try, from running to its end, by the try's final state",
            ["state"], buckets=DURATION_BUCKETS, registry=r)
        self.slots_in_use = Gauge("leoflow_executor_slots_in_use",
                                  "Task instances queued or running, by executor",
                                  ["executor"], registry=r)
        self.slots_total = Gauge("leoflow_executor_slots_total",
                                 "Task instances the scheduler runs at once (parallelism)",
                                 registry=r)
        self.xcom_bytes = Counter("leoflow_xcom_pushed_bytes",
                                  "Bytes of XCom values pushed (their JSON encoding)",
                                  registry=r)
        self.xcom_pushes = Counter("leoflow_xcom_pushes", "XCom values pushed", registry=r)
        self.api_latency = Histogram(
            "leoflow_api_request_duration_seconds",
            "API request latency by method, route template and status",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self._running_since: dict[str, float] = {}
        self._delays = SchedulingDelays(self.scheduling_delay.observe)

    # -- scheduler events ------------------------------------------------------------------
    def listener(self, kind: str, data: dict[str, Any]) -> None:
        """A scheduler listener: ``start_control_plane(listeners=[metrics.listener])``.

        Called on the scheduler's loop right after each commit; it must stay cheap, so the
        work that needs the store (a run's graph) happens in ``SchedulingDelays``' task.
        """
        now = time.monotonic()
        if kind == "ti.running":
            self._running_since.setdefault(data["ti_id"], now)
        elif kind == "ti.finished":
            started = self._running_since.pop(data["ti_id"], None)
            if started is not None:
                self.task_duration.labels(state=str(data.get("state"))).observe(now - started)
        self._delays.event(kind, data, now)

    def xcom_pushed(self, size: int) -> None:
        """One XCom value of ``size`` bytes was stored."""
        self.xcom_pushes.inc()
        self.xcom_bytes.inc(max(0, size))

    def start(self, store: Store, *, parallelism: int | None = None) -> None:
        """Start following the scheduler's events (needs the running event loop)."""
        if parallelism is not None:
            self.slots_total.set(parallelism)
        self._delays.start(store_graph_loader(store))

    async def stop(self) -> None:
        await self._delays.stop()

    # -- scrape ----------------------------------------------------------------------------
    async def refresh(self, store: Store) -> None:
        """Set the gauges counted in the store (called on each scrape)."""
        counts = await metrics_reads.state_counts(store)
        # No await below: a concurrent scrape never sees the gauges half set.
        _set_all(self.dag_runs, {s.value: 0 for s in DagRunState}, counts.runs)
        _set_all(self.task_instances,
                 {"none": 0, **{s.value: 0 for s in TaskInstanceState}}, counts.task_instances)
        _set_all(self.slots_in_use, {}, counts.slots)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _set_all(gauge: Gauge, zeros: dict[str, int], rows: Sequence[Any]) -> None:
    values = dict(zeros)
    for label, count in rows:
        name = "none" if label is None else str(label)
        values[name] = values.get(name, 0) + int(count)
    gauge.clear()
    for name, count in values.items():
        gauge.labels(name).set(count)


class SchedulingDelays:
    """Turns the scheduler's events into scheduling delays.

    A task instance is *ready* when its last upstream task finished (all map indexes of a
    mapped upstream), or, for a task without upstreams, when its run started running; its
    delay is the time from ready to ``ti.queued``. Events are timed as they arrive and then
    handled in order by one background task, which reads each run's graph from the store
    once. A task queued again after it finished in the same running period is a retry
    (its wait is a chosen retry delay, not scheduling) and is not observed; after a restart,
    delays whose starting point was not seen are skipped rather than guessed.
    """

    def __init__(self, observe: Callable[[float], None]) -> None:
        self._observe = observe
        self._pending: collections.deque[tuple[str, dict[str, Any], float]] = \
            collections.deque(maxlen=MAX_PENDING_EVENTS)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._load: GraphLoader | None = None
        self._started: dict[RunKey, float] = {}
        self._last_finish: dict[RunKey, dict[str, float]] = {}
        self._done: dict[RunKey, dict[tuple[str, int], float]] = {}
        self._graphs: dict[RunKey, Mapping[str, Sequence[str]] | None] = {}
        self._seen: dict[RunKey, None] = {}  # insertion order: oldest first

    def event(self, kind: str, data: dict[str, Any], at: float) -> None:
        if kind in ("run.running", "run.finished", "ti.queued", "ti.finished"):
            self._pending.append((kind, data, at))
            self._wake.set()

    def start(self, load: GraphLoader) -> None:
        self._load = load
        self._task = asyncio.get_running_loop().create_task(self._follow(),
                                                              name="leoflow-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self) -> None:
        """Handle every pending event now (tests; the background task does it otherwise)."""
        while self._pending:
            await self._handle(*self._pending.popleft())

    async def _follow(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                try:
                    await self._handle(*self._pending.popleft())
                except asyncio.CancelledError:
                    raise
                except Exception:  # a metric must never stop the loop
                    log.exception("scheduling-delay metric failed on an event")

    async def _handle(self, kind: str, data: dict[str, Any], at: float) -> None:
        key: RunKey = (data["dag_id"], data["run_id"])
        if kind == "run.running":
            self._track(key)
            self._started[key] = at
            self._graphs.pop(key, None)  # a cleared run may be pinned to a new version
        elif kind == "run.finished":
            self._forget(key)
        elif kind == "ti.finished":
            self._track(key)
            task_id, map_index = data["task_id"], data.get("map_index", -1)
            self._done.setdefault(key, {})[(task_id, map_index)] = at
            finishes = self._last_finish.setdefault(key, {})
            finishes[task_id] = max(at, finishes.get(task_id, at))
        elif kind == "ti.queued":
            self._track(key)
            delay = await self._delay(key, data["task_id"], data.get("map_index", -1), at)
            if delay is not None:
                self._observe(delay)

    async def _delay(self, key: RunKey, task_id: str, map_index: int,
                     at: float) -> float | None:
        started = self._started.get(key)
        own = self._done.get(key, {}).get((task_id, map_index))
        if own is not None and (started is None or own >= started):
            return None  # a retry
        if key not in self._graphs and self._load is not None:
            self._graphs[key] = await self._load(*key)
        graph = self._graphs.get(key)
        if graph is None:
            return None
        upstream = graph.get(task_id, ())
        if upstream:
            finishes = self._last_finish.get(key, {})
            known = [finishes[u] for u in upstream if u in finishes]
            if not known:
                return None
            ready = max([*known, started] if started is not None else known)
        elif started is not None:
            ready = started
        else:
            return None
        return max(0.0, at - ready)

    def _track(self, key: RunKey) -> None:
        """Remember ``key``; forget the oldest run beyond ``MAX_TRACKED_RUNS`` (runs deleted
        before they finished)."""
        if key in self._seen:
            return
        self._seen[key] = None
        if len(self._seen) > MAX_TRACKED_RUNS:
            self._forget(next(iter(self._seen)))

    def _forget(self, key: RunKey) -> None:
        self._seen.pop(key, None)
        self._started.pop(key, None)
        self._last_finish.pop(key, None)
        self._done.pop(key, None)
        self._graphs.pop(key, None)


def store_graph_loader(store: Store) -> GraphLoader:
    """A ``GraphLoader`` reading the version a run is pinned to (one graph per version)."""
    graphs: dict[str, dict[str, tuple[str, ...]]] = {}

    async def load(dag_id: str, run_id: str) -> Mapping[str, Sequence[str]] | None:
        found = await metrics_reads.pinned_version(store, dag_id, run_id, graphs.keys())
        if found is None:
            return None
        version_id, version = found
        graph = graphs.get(version_id)
        if graph is None:
            if version is None:
                return None
            if len(graphs) >= 256:
                graphs.pop(next(iter(graphs)))
            graph = graphs[version_id] = {
                t["task_id"]: tuple(t.get("upstream") or ())
                for t in version.spec.get("tasks", ())}
        return graph

    return load


# -- the API side ------------------------------------------------------------------------------
def app_metrics(app: Any) -> Metrics:
    """The app's ``Metrics`` (``app.state.metrics``), created on first use."""
    metrics = getattr(app.state, "metrics", None)
    if metrics is None:
        metrics = app.state.metrics = Metrics()
    return metrics


def install_request_middleware(app: Any, metrics: Metrics | None = None, *,
                               access_log_enabled: bool = False) -> Metrics:
    """Time every request into ``metrics`` (the app's own by default) and, with
    ``access_log_enabled``, log one JSON line per request. Call before the app serves."""
    metrics = metrics or app_metrics(app)
    app.state.metrics = metrics
    app.add_middleware(RequestMiddleware, metrics=metrics, access_log_enabled=access_log_enabled)
    return metrics


class RequestMiddleware:
    """A plain ASGI middleware (no ``BaseHTTPMiddleware``: streamed logs stay streamed)."""

    def __init__(self, app: Any, metrics: Metrics, access_log_enabled: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_see(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            elapsed = time.monotonic() - started
            route = getattr(scope.get("route"), "path", None)
            self.metrics.api_latency.labels(
                method=scope["method"], route=route or UNMATCHED_ROUTE,
                status=str(status)).observe(elapsed)
            if self.access_log_enabled:
                principal = (scope.get("state") or {}).get("principal")
                access_log.info("%s %s %s", scope["method"], route or scope["path"], status,
                                extra={"json_fields": {
                                    "method": scope["method"],
                                    "path": route or scope["path"],
                                    "status": status,
                                    "duration_ms": round(elapsed * 1000, 3),
                                    "user": getattr(principal, "username", None)}})


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a record's
    ``json_fields`` (as the access log sets them) merged in."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)
