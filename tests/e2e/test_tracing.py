"""OpenTelemetry traces through the real path: a control plane configured by the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` exports a run's spans over OTLP/gRPC to a real receiver (a
gRPC server built on the ``opentelemetry-proto`` collector service, on 127.0.0.1), and each
try's log names its trace and span ids."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

pytest.importorskip("opentelemetry.sdk.trace")

import itertools

from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)

from leoflow.engine import tracing
from tests.e2e.harness import EXAMPLES, Projects, open_plane

pytestmark = pytest.mark.slow


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.resources: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:
        with self.lock:
            for resource_spans in request.resource_spans:
                self.resources.append({a.key: a.value.string_value
                                       for a in resource_spans.resource.attributes})
                for scope in resource_spans.scope_spans:
                    self.spans.extend(scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Any:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    found = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(found, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "leoflow-test")
    yield found
    server.stop(grace=None)


def attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        value = a.value
        out[a.key] = value.int_value if value.HasField("int_value") else value.string_value
    return out


async def test_a_run_and_its_tries_are_exported_over_otlp(
        receiver: Receiver, projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "hello")
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, timeout=60)
        run_id = result.run_id
    # the plane's stop shut the exporter down, which sends what was still batched
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
            s.name == "run hello" for s in receiver.spans):
        await asyncio.sleep(0.1)
    assert result.state == "success"
    spans = list(receiver.spans)
    assert receiver.resources and receiver.resources[0]["service.name"] == "leoflow-test"
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    trace_id = tracing.trace_id_of("hello", run_id).to_bytes(16, "big")
    (run_span,) = by_name["run hello"]
    assert run_span.trace_id == trace_id and not run_span.parent_span_id
    assert attributes(run_span)["leoflow.state"] == "success"
    tries = by_name["try make_greeting"] + by_name["try shout"]
    assert len(tries) == 2
    for try_span in tries:
        assert try_span.trace_id == trace_id
        assert try_span.parent_span_id == run_span.span_id
        assert run_span.start_time_unix_nano <= try_span.start_time_unix_nano
        assert try_span.end_time_unix_nano <= run_span.end_time_unix_nano
        assert attributes(try_span)["leoflow.try_number"] == 1
        children = [s for s in spans if s.parent_span_id == try_span.span_id]
        assert [c.name for c in sorted(children, key=lambda c: c.start_time_unix_nano)] == [
            "scheduler decision", "queue", "start", "user code", "report"]
        # the phases tile the try: each starts where the previous one ended
        ordered = sorted(children, key=lambda c: c.start_time_unix_nano)
        assert ordered[0].start_time_unix_nano == try_span.start_time_unix_nano
        assert ordered[-1].end_time_unix_nano == try_span.end_time_unix_nano
        for before, after in itertools.pairwise(ordered):
            assert before.end_time_unix_nano == after.start_time_unix_nano
        # the try's log names the trace and the span it was exported as
        task_id = attributes(try_span)["leoflow.task_id"]
        agent_lines = result.lines(task_id, streams=("agent",))
        assert (f"trace_id={trace_id.hex()} span_id={try_span.span_id.hex()}"
                in agent_lines), agent_lines
    # shout was decided in the batch that applied make_greeting's report: its decision
    # starts where that report's commit starts, after make_greeting's code ended
    first, second = by_name["try make_greeting"][0], by_name["try shout"][0]
    (report,) = [s for s in spans if s.parent_span_id == first.span_id and s.name == "report"]
    assert report.start_time_unix_nano == second.start_time_unix_nano


def test_off_by_default_and_without_importing_opentelemetry() -> None:
    import subprocess
    import sys

    code = ("import sys, os\n"
            "from leoflow.engine import tracing\n"
            "assert tracing.from_environment({}) is None\n"
            "assert tracing.from_environment({'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://x:4317',"
            " 'OTEL_SDK_DISABLED': 'true'}) is None\n"
            "assert tracing.from_environment({'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://x:4317',"
            " 'OTEL_TRACES_EXPORTER': 'none'}) is None\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
