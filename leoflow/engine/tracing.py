"""OpenTelemetry traces of runs and tries, exported over OTLP when configured.

Off by default, and free when off: ``from_environment`` returns ``None`` unless an OTLP
endpoint is configured (the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), and nothing of OpenTelemetry is imported until then.
The SDK and its exporter are the ``leoflow[otel]`` extra.

One trace per DAG run, one span per try under it, five spans per try (``docs/cli-remote.md``,
"Traces"). The spans are built from the scheduler's events (a listener, as the Prometheus
metrics are) with the times those events carry, and exported when the try or run ends: a
try's span is never open across an await, and the scheduler's loop pays a dict update per
event. Trace and span ids are derived from the run's and the try's identity, so the id a
try's log names at its start is the id its span is exported with at its end, and a restarted
or another replica's control plane continues the same trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("leoflow.tracing")

MAX_OPEN = 100_000  # tries and runs remembered while open; the oldest are forgotten first
LOG_STREAM = "agent"  # the log store's streams are stdout, stderr and agent
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class TryLog(Protocol):
    """Where the trace line of a try goes (``LogStore.append_lines`` by log key)."""

    async def __call__(self, dag_id: str, run_id: str, task_id: str, try_number: int,
                       map_index: int, line: str) -> None: ...


def trace_id_of(dag_id: str, run_id: str) -> int:
    """The 128-bit trace id of a run (never 0)."""
    return _digest(b"run", dag_id, run_id, size=16)


def run_span_id_of(dag_id: str, run_id: str) -> int:
    return _digest(b"run-span", dag_id, run_id, size=8)


def try_span_id_of(ti_id: str, try_number: int) -> int:
    return _digest(b"try", ti_id, str(try_number), size=8)


def _digest(kind: bytes, *parts: str, size: int) -> int:
    h = hashlib.sha256(kind)
    for part in parts:
        h.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest()[:size], "big") or 1


def trace_line(dag_id: str, run_id: str, ti_id: str, try_number: int) -> str:
    """The line a try's log starts with when tracing is on."""
    return (f"trace_id={trace_id_of(dag_id, run_id):032x} "
            f"span_id={try_span_id_of(ti_id, try_number):016x}")


def configured(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for OTLP traces (standard OpenTelemetry variables)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if "otlp" not in exporters.split(","):
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


@dataclass
class _Try:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    decided_ns: int
    launch_ns: int
    queued_ns: int
    running_ns: int | None = None


class Tracing:
    """A scheduler listener that turns events into spans (see the module docstring).

    ``exporter`` is an OpenTelemetry ``SpanExporter``; ``None`` builds the OTLP one from the
    standard environment variables. ``try_log`` writes the trace line of each try.
    """

    def __init__(self, *, exporter: Any = None, try_log: TryLog | None = None,
                 service_name: str = "leoflow", batch: bool = True) -> None:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        if exporter is None:
            exporter = _otlp_exporter()
        ids = self._ids = _PresetIds(RandomIdGenerator())
        generator: Any = ids  # duck-typed: IdGenerator is an ABC of three methods
        self._provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}), id_generator=generator)
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("leoflow")
        self._try_log = try_log
        self._tries: dict[str, _Try] = {}
        self._runs: dict[tuple[str, str], int] = {}
        self._writes: set[asyncio.Task[None]] = set()

    # -- the listener --------------------------------------------------------------------------
    def listener(self, kind: str, data: dict[str, Any]) -> None:
        """Called on the scheduler's loop after each commit; must stay cheap."""
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(self, data, time.time_ns())

    def _run_running(self, data: dict[str, Any], now: int) -> None:
        self._remember(self._runs, (data["dag_id"], data["run_id"]), data.get("batch_ns", now))

    def _ti_queued(self, data: dict[str, Any], now: int) -> None:
        launch = data.get("launch_ns", now)
        one = _Try(data["dag_id"], data["run_id"], data["task_id"], data.get("map_index", -1),
                   int(data.get("try_number", 0)), data.get("batch_ns", launch), launch, now)
        self._remember(self._tries, data["ti_id"], one)
        self._runs.setdefault((one.dag_id, one.run_id), one.decided_ns)
        if self._try_log is not None:
            line = trace_line(one.dag_id, one.run_id, data["ti_id"], one.try_number)
            task = asyncio.get_running_loop().create_task(self._write(one, line))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    def _ti_running(self, data: dict[str, Any], now: int) -> None:
        one = self._tries.get(data["ti_id"])
        if one is not None and one.running_ns is None:
            one.running_ns = data.get("batch_ns", now)

    def _ti_ended(self, data: dict[str, Any], now: int) -> None:
        one = self._tries.pop(data["ti_id"], None)
        if one is None:
            return  # queued before this control plane started: its start is not known
        state = str(data.get("state") or "")
        self._export_try(data["ti_id"], one, state, data.get("error"),
                         reported_ns=data.get("batch_ns", now), committed_ns=now)

    def _run_finished(self, data: dict[str, Any], now: int) -> None:
        dag_id, run_id = data["dag_id"], data["run_id"]
        start = self._runs.pop((dag_id, run_id), None)
        if start is None:
            return
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind, Status, StatusCode

        state = str(data.get("state") or "")
        self._ids.preset(trace_id_of(dag_id, run_id), run_span_id_of(dag_id, run_id))
        span = self._tracer.start_span(
            f"run {dag_id}", context=Context(), kind=SpanKind.INTERNAL, start_time=start,
            attributes={"leoflow.dag_id": dag_id, "leoflow.run_id": run_id,
                        "leoflow.state": state})
        if state == "failed":
            span.set_status(Status(StatusCode.ERROR, str(data.get("reason") or "failed")))
        span.end(end_time=max(start, now))

    _handlers: dict[str, Callable[[Tracing, dict[str, Any], int], None]] = {
        "run.running": _run_running, "run.finished": _run_finished,
        "ti.queued": _ti_queued, "ti.running": _ti_running, "ti.finished": _ti_ended,
        "ti.deferred": _ti_ended, "ti.rescheduled": _ti_ended,
    }

    # -- spans ---------------------------------------------------------------------------------
    def _export_try(self, ti_id: str, one: _Try, state: str, error: Any, *,
                    reported_ns: int, committed_ns: int) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import (
            NonRecordingSpan,
            SpanContext,
            Status,
            StatusCode,
            TraceFlags,
        )

        trace_id = trace_id_of(one.dag_id, one.run_id)
        run_ctx = trace.set_span_in_context(NonRecordingSpan(SpanContext(
            trace_id, run_span_id_of(one.dag_id, one.run_id), is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED))))
        running = one.running_ns if one.running_ns is not None else reported_ns
        # times only go forward, whatever the clocks did between events
        marks = [one.decided_ns, one.launch_ns, one.queued_ns, running, reported_ns,
                 committed_ns]
        for i in range(1, len(marks)):
            marks[i] = max(marks[i], marks[i - 1])
        attributes: dict[str, str | int] = {
            "leoflow.dag_id": one.dag_id, "leoflow.run_id": one.run_id,
            "leoflow.task_id": one.task_id, "leoflow.map_index": one.map_index,
            "leoflow.try_number": one.try_number, "leoflow.state": state}
        self._ids.preset(None, try_span_id_of(ti_id, one.try_number))
        span = self._tracer.start_span(f"try {one.task_id}", context=run_ctx,
                                       start_time=marks[0], attributes=attributes)
        if state in ("failed", "up_for_retry", "upstream_failed"):
            span.set_status(Status(StatusCode.ERROR, str(error or state)[:1000]))
        ctx = trace.set_span_in_context(span)
        for name, begin, end in (("scheduler decision", marks[0], marks[1]),
                                 ("queue", marks[1], marks[2]),
                                 ("start", marks[2], marks[3]),
                                 ("user code", marks[3], marks[4]),
                                 ("report", marks[4], marks[5])):
            self._tracer.start_span(name, context=ctx, start_time=begin).end(end_time=end)
        span.end(end_time=marks[5])

    async def _write(self, one: _Try, line: str) -> None:
        if self._try_log is None:
            return
        try:
            await self._try_log(one.dag_id, one.run_id, one.task_id, one.try_number,
                                one.map_index, line)
        except Exception:  # a trace line must never fail a try
            log.exception("could not write the trace line of %s.%s", one.dag_id, one.task_id)

    @staticmethod
    def _remember(table: dict[Any, Any], key: Any, value: Any) -> None:
        table[key] = value
        if len(table) > MAX_OPEN:
            table.pop(next(iter(table)))

    # -- lifecycle -----------------------------------------------------------------------------
    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export every ended span now (blocking: call it off the event loop)."""
        return bool(self._provider.force_flush(int(timeout_s * 1000)))

    async def close(self) -> None:
        for task in list(self._writes):
            task.cancel()
        await asyncio.to_thread(self._provider.shutdown)


class _PresetIds:
    """An OpenTelemetry ``IdGenerator`` handing out the ids set just before a span starts
    (derived ids), and random ones otherwise. Used from the scheduler's loop only."""

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback
        self._trace_id: int | None = None
        self._span_id: int | None = None

    def preset(self, trace_id: int | None, span_id: int) -> None:
        self._trace_id, self._span_id = trace_id, span_id

    def generate_trace_id(self) -> int:
        value, self._trace_id = self._trace_id, None
        return value if value is not None else int(self._fallback.generate_trace_id())

    def is_trace_id_random(self) -> bool:
        return False  # derived: the W3C "random" flag must not be claimed

    def generate_span_id(self) -> int:
        value, self._span_id = self._span_id, None
        return value if value is not None else int(self._fallback.generate_span_id())


def _otlp_exporter() -> Any:
    """The OTLP span exporter the standard variables describe (gRPC unless
    ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`` says http/protobuf)."""
    import os

    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc").strip().lower()
    if protocol.startswith("http"):  # an optional package of its own
        module = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        return module.OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def from_environment(env: Mapping[str, str], try_log: TryLog | None = None) -> Tracing | None:
    """A ``Tracing`` when the environment configures OTLP traces, else ``None`` (nothing
    imported). Without the ``otel`` extra installed, says so once and returns ``None``."""
    if not configured(env):
        return None
    try:
        return Tracing(try_log=try_log,
                       service_name=env.get("OTEL_SERVICE_NAME", "").strip() or "leoflow")
    except ImportError as exc:
        log.warning("OpenTelemetry traces are configured (%s) but cannot be exported: %s; "
                    "install leoflow[otel]", ", ".join(
                        n for n in ENDPOINT_VARIABLES if env.get(n)), exc)
        return None
