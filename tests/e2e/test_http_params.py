"""An HttpOperator fed DAG params, through the real path: compile, control plane, the
inline HTTP executor, a real HTTP server on 127.0.0.1, then a Python task under an agent.

The request's url and JSON body are ``@dag`` function parameters, so they reach the
executor as ``{"param": ...}`` inputs; the executor must resolve them with the run's params
(defaults overridden by the trigger's conf), as the agent does for Python tasks. Before the
fix it resolved with no params at all and the task failed with "the run has no param".
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "http_params"


class EchoServer:
    """Answers every POST with the path and the JSON body it received."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = json.loads(self.rfile.read(length) or b"null")
                owner.bodies.append(received)
                body = json.dumps({"path": self.path, "received": received}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEOFLOW_E2E_HTTP_URL", f"{server.base}/default")
        yield server
    server.close()


@pytest.fixture
async def http_params(projects: Projects, echo: EchoServer) -> Prepared:
    return await projects.prepare(PROJECT)


async def test_http_operator_receives_the_dag_params_defaults(
        http_params: Prepared, sqlite_url: str, e2e_home: Path, echo: EchoServer) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(http_params)
    assert result.states() == {"ask": "success", "answer": "success"}, result.tasks
    assert result.xcom["ask"] == {"path": "/default",
                                  "received": {"city": "paris", "fixed": 1}}
    assert result.xcom["answer"] == "/default:paris"


async def test_http_operator_receives_params_from_the_triggers_conf(
        http_params: Prepared, sqlite_url: str, e2e_home: Path, echo: EchoServer) -> None:
    conf = {"base_url": f"{echo.base}/from-conf", "city": "lyon"}
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(http_params, conf=conf)
    assert result.states() == {"ask": "success", "answer": "success"}, result.tasks
    assert result.xcom["ask"] == {"path": "/from-conf",
                                  "received": {"city": "lyon", "fixed": 1}}
    assert result.xcom["answer"] == "/from-conf:lyon"
