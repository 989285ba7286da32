"""The inline HTTP executor against a real HTTP server on 127.0.0.1 (a thread in the test)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from leoflow.engine.executors.base import ExecutorEvent, TaskLaunch
from leoflow.engine.executors.http import HttpExecutor
from leoflow.engine.logs import LogKey, LogStore
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.xcom import XComPolicy, resolve_inputs


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.release = threading.Event()  # slow handlers wait on it; set at teardown
        self.lock = threading.Lock()
        self.concurrent = 0
        self.peak = 0
        self.requests: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode())

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.requests.append(f"{self.command} {url.path}")
        route = url.path
        if route == "/json":
            self._json({"hello": "world", "n": [1, 2, 3]})
        elif route == "/text":
            self._send(200, "plain text, ünïcode".encode(), "text/plain; charset=utf-8")
        elif route == "/echo":
            self._json({"method": self.command, "body": body, "query": query,
                        "content_type": self.headers.get("Content-Type"),
                        "x_test": self.headers.get("X-Test"),
                        "authorization": self.headers.get("Authorization")})
        elif route.startswith("/status/"):
            self._send(int(route.rsplit("/", 1)[1]), ("nope " * 200).encode(), "text/plain")
        elif route == "/big":
            self._send(200, b"x" * int(query["size"]), "text/plain")
        elif route == "/slow":
            self.server.release.wait(float(query.get("seconds", 10)))
            self._json({"slow": True})
        elif route == "/concurrent":
            with self.server.lock:
                self.server.concurrent += 1
                self.server.peak = max(self.server.peak, self.server.concurrent)
            time.sleep(0.15)
            with self.server.lock:
                self.server.concurrent -= 1
            self._json({"ok": True})
        elif route == "/bad-json":
            self._send(200, b"{not json", "application/json")
        else:
            self._send(404, b"no route", "text/plain")


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), name="test-http-server",
                              daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def base_url(server: Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


class Harness:
    """An executor with recorded events and XComs; inputs resolved by the real resolver."""

    def __init__(self, tmp_path: Path, **kwargs: Any) -> None:
        self.events: list[ExecutorEvent] = []
        self.xcoms: dict[str, Any] = {}
        self.upstream: dict[tuple[str, str], Any] = {}
        self.changed = asyncio.Event()
        self.policy = XComPolicy()
        self.logs = LogStore(tmp_path / "logs")
        self.executor = HttpExecutor(push_xcom=self.push_xcom, resolve=self.resolve,
                                     logs=self.logs, **kwargs)
        self.executor.set_callback(self.report)
        self.count = 0

    async def report(self, event: ExecutorEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def push_xcom(self, launch: TaskLaunch, value: Any) -> None:
        self.policy.encode(value, task_id=launch.task_id, key="return_value")
        self.xcoms[launch.ti_id] = value

    async def resolve(self, launch: TaskLaunch, task: TaskSpec
                      ) -> tuple[list[Any], dict[str, Any]]:
        async def fetch(task_id: str, key: str) -> Any:
            return self.upstream.get((task_id, key))

        return await resolve_inputs(task, launch.map_index, fetch=fetch, params={})

    async def start(self, options: dict[str, Any] | None = None, **inputs: Any
                    ) -> TaskLaunch:
        self.count += 1
        task_id = f"call_{self.count}"
        encoded = {k: v if isinstance(v, dict) and len(v) == 1 and next(iter(v)) in (
            "xcom", "literal", "list", "dict") else {"literal": v} for k, v in inputs.items()}
        task = TaskSpec.from_json({"task_id": task_id, "operator": "http",
                                   "inputs": {"args": [], "kwargs": encoded},
                                   "options": {"method": "GET", "expected_status": [200],
                                               "timeout": 10.0, **(options or {})}})
        launch = TaskLaunch(ti_id=f"ti-{task_id}", dag_id="web", run_id="manual__1",
                            dag_run_id=1, task_id=task_id, map_index=-1, try_number=1,
                            dag_version_id="v1", operator="http")
        await self.executor.start(launch, task)
        return launch

    def states(self, launch: TaskLaunch) -> list[str]:
        return [e.state for e in self.events if e.ti_id == launch.ti_id]

    async def outcome(self, launch: TaskLaunch, timeout: float = 10) -> ExecutorEvent:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event.ti_id == launch.ti_id and event.state in ("success", "failed"):
                        return event
                self.changed.clear()
                await self.changed.wait()

    async def log_lines(self, launch: TaskLaunch) -> list[str]:
        key = LogKey(launch.dag_id, launch.run_id, launch.task_id, launch.try_number)
        return [r.event for r in (await self.logs.read(key))[0]]


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    await harness.executor.close()
    await harness.logs.close()


async def test_get_json_becomes_the_return_value(http: Harness, server: Server) -> None:
    launch = await http.start(url=f"{base_url(server)}/json")
    outcome = await http.outcome(launch)
    assert outcome.state == "success" and outcome.error is None
    assert http.states(launch) == ["running", "success"]
    running = http.events[0]
    assert running.info["external_executor_id"] == f"http:{launch.ti_id}"
    assert http.xcoms[launch.ti_id] == {"hello": "world", "n": [1, 2, 3]}
    lines = await http.log_lines(launch)
    assert lines[0] == f"GET {base_url(server)}/json"
    assert lines[1].startswith("HTTP 200 OK (")


async def test_text_responses_are_pushed_as_text(http: Harness, server: Server) -> None:
    launch = await http.start(url=f"{base_url(server)}/text")
    assert (await http.outcome(launch)).state == "success"
    assert http.xcoms[launch.ti_id] == "plain text, ünïcode"
    launch = await http.start(url=f"{base_url(server)}/bad-json")
    assert (await http.outcome(launch)).state == "success"
    assert http.xcoms[launch.ti_id] == "{not json"


async def test_post_a_dict_as_json_with_headers(http: Harness, server: Server) -> None:
    launch = await http.start({"method": "POST"}, url=f"{base_url(server)}/echo",
                              headers={"X-Test": "yes"}, data={"rows": [1, 2], "ok": True})
    assert (await http.outcome(launch)).state == "success"
    echoed = http.xcoms[launch.ti_id]
    assert echoed["method"] == "POST" and echoed["x_test"] == "yes"
    assert echoed["content_type"] == "application/json"
    assert json.loads(echoed["body"]) == {"rows": [1, 2], "ok": True}


async def test_a_string_is_the_raw_body_and_a_gets_dict_the_query(http: Harness,
                                                                   server: Server) -> None:
    raw = await http.start({"method": "PUT"}, url=f"{base_url(server)}/echo",
                           data="a=1&b=two", headers={"Content-Type": "text/plain"})
    query = await http.start(url=f"{base_url(server)}/echo", data={"q": "leo flow", "n": 3})
    assert (await http.outcome(raw)).state == "success"
    assert (await http.outcome(query)).state == "success"
    assert http.xcoms[raw.ti_id]["body"] == "a=1&b=two"
    assert http.xcoms[raw.ti_id]["method"] == "PUT"
    assert http.xcoms[query.ti_id]["query"] == {"q": "leo flow", "n": "3"}
    assert http.xcoms[query.ti_id]["body"] == ""


async def test_inputs_may_come_from_upstream_results(http: Harness, server: Server) -> None:
    http.upstream[("pick", "return_value")] = f"{base_url(server)}/echo"
    http.upstream[("payload", "return_value")] = {"from": "upstream"}
    launch = await http.start({"method": "POST"}, url={"xcom": {"task_id": "pick"}},
                              data={"xcom": {"task_id": "payload"}})
    assert (await http.outcome(launch)).state == "success"
    assert json.loads(http.xcoms[launch.ti_id]["body"]) == {"from": "upstream"}


async def test_an_unexpected_status_fails_with_the_start_of_the_body(http: Harness,
                                                                      server: Server) -> None:
    launch = await http.start(url=f"{base_url(server)}/status/503")
    outcome = await http.outcome(launch)
    assert outcome.state == "failed" and launch.ti_id not in http.xcoms
    assert "HTTP 503" in (outcome.error or "") and "expected 200" in (outcome.error or "")
    body_part = (outcome.error or "").split(": ", 1)[1]
    assert body_part == ("nope " * 200)[:500]
    assert any("failed: " in line for line in await http.log_lines(launch))
    accepted = await http.start({"expected_status": [200, 404]},
                                url=f"{base_url(server)}/status/404")
    assert (await http.outcome(accepted)).state == "success"


async def test_the_timeout_fails_the_try(http: Harness, server: Server) -> None:
    started = time.monotonic()
    launch = await http.start({"timeout": 0.3}, url=f"{base_url(server)}/slow?seconds=5")
    outcome = await http.outcome(launch)
    assert outcome.state == "failed" and "timeout of 0.3 s" in (outcome.error or "")
    assert time.monotonic() - started < 3


async def test_a_body_over_256_kb_fails_and_nothing_is_pushed(http: Harness,
                                                             server: Server) -> None:
    fits = await http.start(url=f"{base_url(server)}/big?size={256 * 1024 - 2}")
    too_big = await http.start(url=f"{base_url(server)}/big?size={5 * 1024 * 1024}")
    assert (await http.outcome(fits)).state == "success"
    assert len(http.xcoms[fits.ti_id]) == 256 * 1024 - 2
    outcome = await http.outcome(too_big)
    assert outcome.state == "failed" and too_big.ti_id not in http.xcoms
    assert "larger than 256 KB" in (outcome.error or "")


async def test_a_value_refused_by_the_xcom_backend_fails_the_try(tmp_path: Path,
                                                                 server: Server) -> None:
    harness = Harness(tmp_path, max_body_bytes=1024 * 1024)
    harness.policy = XComPolicy(max_value_bytes=1000)
    try:
        launch = await harness.start(url=f"{base_url(server)}/big?size=5000")
        outcome = await harness.outcome(launch)
        assert outcome.state == "failed" and "above the" in (outcome.error or "")
        assert "'return_value'" in (outcome.error or "")
    finally:
        await harness.executor.close()
        await harness.logs.close()


async def test_connections_give_base_url_auth_and_headers(tmp_path: Path,
                                                         server: Server) -> None:
    host, port = server.server_address[:2]
    connections = {"api": {"conn_type": "http", "host": host, "port": port, "schema": "http",
                           "login": "leo", "password": "s3cret",
                           "extra": json.dumps({"X-Test": "from-conn", "verify": False})}}

    async def lookup(conn_id: str) -> dict[str, Any] | None:
        return connections.get(conn_id)

    harness = Harness(tmp_path, connection_lookup=lookup)
    try:
        launch = await harness.start({"http_conn_id": "api"}, endpoint="echo")
        assert (await harness.outcome(launch)).state == "success"
        echoed = harness.xcoms[launch.ti_id]
        assert echoed["x_test"] == "from-conn"
        assert echoed["authorization"] == "Basic " + base64.b64encode(b"leo:s3cret").decode()
        # The task's own headers win over the connection's.
        launch = await harness.start({"http_conn_id": "api"}, endpoint="/echo",
                                     headers={"X-Test": "from-task"})
        assert (await harness.outcome(launch)).state == "success"
        assert harness.xcoms[launch.ti_id]["x_test"] == "from-task"
        missing = await harness.start({"http_conn_id": "nope"}, endpoint="echo")
        outcome = await harness.outcome(missing)
        assert outcome.state == "failed" and "connection 'nope' is not defined" in (
            outcome.error or "")
    finally:
        await harness.executor.close()
        await harness.logs.close()


async def test_a_synchronous_lookup_and_a_host_with_a_scheme(tmp_path: Path,
                                                            server: Server) -> None:
    harness = Harness(tmp_path, connection_lookup=lambda conn_id: {"host": base_url(server)})
    try:
        launch = await harness.start({"http_conn_id": "plain"}, endpoint="json")
        assert (await harness.outcome(launch)).state == "success"
        assert harness.xcoms[launch.ti_id]["hello"] == "world"
    finally:
        await harness.executor.close()
        await harness.logs.close()


async def test_cancel_stops_the_request_without_an_outcome(http: Harness,
                                                          server: Server) -> None:
    launch = await http.start(url=f"{base_url(server)}/slow?seconds=10")
    async with asyncio.timeout(5):
        while "running" not in http.states(launch) or not server.requests:
            await asyncio.sleep(0.01)
    await http.executor.cancel(launch.ti_id, "marked failed by a user")
    await asyncio.sleep(0.1)
    assert http.states(launch) == ["running"]
    assert http.executor.active == 0 and launch.ti_id not in http.xcoms
    assert (await http.log_lines(launch))[-1] == "cancelled: marked failed by a user"
    await http.executor.cancel(launch.ti_id, "again")  # unknown or finished: nothing happens


async def test_the_concurrency_cap_holds(tmp_path: Path, server: Server) -> None:
    harness = Harness(tmp_path, max_concurrency=2)
    try:
        launches = [await harness.start(url=f"{base_url(server)}/concurrent") for _ in range(6)]
        outcomes = [await harness.outcome(launch) for launch in launches]
        assert all(o.state == "success" for o in outcomes)
        assert server.peak == 2 and harness.executor.peak_active == 2
    finally:
        await harness.executor.close()
        await harness.logs.close()
    with pytest.raises(ValueError):
        HttpExecutor(push_xcom=harness.push_xcom, resolve=harness.resolve, max_concurrency=0)


async def test_wrong_tasks_and_urls_fail_clearly(http: Harness, server: Server) -> None:
    relative = await http.start(url="/json")
    outcome = await http.outcome(relative)
    assert outcome.state == "failed" and "absolute http(s) URL" in (outcome.error or "")
    refused = await http.start(url="http://127.0.0.1:9/")  # nothing listens on port 9
    outcome = await http.outcome(refused)
    assert outcome.state == "failed" and "ConnectError" in (outcome.error or "")
    task = TaskSpec.from_json({"task_id": "py", "operator": "python"})
    launch = TaskLaunch("ti-py", "web", "manual__1", 1, "py", -1, 1, "v1", "python")
    await http.executor.start(launch, task)
    outcome = await http.outcome(launch)
    assert outcome.state == "failed" and "http tasks only" in (outcome.error or "")


async def test_reconcile_fails_what_died_with_the_old_process(http: Harness,
                                                             server: Server) -> None:
    alive = await http.start(url=f"{base_url(server)}/slow?seconds=10")
    lost = TaskLaunch("ti-lost", "web", "manual__1", 1, "lost", -1, 2, "v1", "http")
    await http.executor.reconcile([alive, lost])
    lost_outcome = await http.outcome(lost)
    assert lost_outcome.state == "failed" and lost_outcome.try_number == 2
    assert "stopped while this HTTP request was in flight" in (lost_outcome.error or "")
    assert not [e for e in http.events if e.ti_id == alive.ti_id and e.state == "failed"]
    await http.executor.close()  # cancels the request still in flight
    assert http.executor.active == 0


async def test_a_connections_secret_echoed_by_the_server_is_masked_in_the_log(
        tmp_path: Path) -> None:
    """docs/security.md, "Secrets in logs": a text response is logged, masked with the
    password and sensitive extras of the connection the request used; the returned value
    is stored intact."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Leaky(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # echoes what it was sent, as text
            body = (f"hello {self.headers.get('X-Api-Token')}\n"
                    f"auth {self.headers.get('Authorization')} pw s3cret-pass\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    leaky = ThreadingHTTPServer(("127.0.0.1", 0), Leaky)
    threading.Thread(target=leaky.serve_forever, daemon=True).start()
    connections = {"api": {"conn_type": "http", "host": "127.0.0.1",
                           "port": leaky.server_address[1], "schema": "http",
                           "login": "leo", "password": "s3cret-pass",
                           "extra": json.dumps({"X-Api-Token": "tok-abcdef-123"})}}

    async def lookup(conn_id: str) -> dict[str, Any] | None:
        return connections.get(conn_id)

    harness = Harness(tmp_path, connection_lookup=lookup)
    try:
        launch = await harness.start({"http_conn_id": "api", "log_response": True},
                                     endpoint="leak")
        assert (await harness.outcome(launch)).state == "success"
        logged = "\n".join(await harness.log_lines(launch))
        assert "tok-abcdef-123" not in logged and "s3cret-pass" not in logged, logged
        assert "hello ***" in logged and "pw ***" in logged, logged
        assert "tok-abcdef-123" in harness.xcoms[launch.ti_id]
        # a failure's error (shown as the try's error) is masked too
        failed = await harness.start({"http_conn_id": "api", "expected_status": [201]},
                                     endpoint="leak")
        outcome = await harness.outcome(failed)
        assert outcome.state == "failed" and "hello ***" in (outcome.error or "")
        assert "s3cret-pass" not in (outcome.error or "")
    finally:
        await harness.executor.close()
        await harness.logs.close()
        leaky.shutdown()
        leaky.server_close()
