"""A FAKE Docker Engine API, for tests only: no Docker engine can run on these machines.

It serves, on 127.0.0.1, the few endpoints the ``docker`` package calls for a build and a
push (``GET /version``, ``GET /_ping``, ``POST /build``, ``POST /images/{name}/push``),
answering the way the engine does (JSON lines in a chunked body, ``aux`` messages with the
image id and the pushed digest), and records what it was sent: the request paths and
queries, and the build context tarball's members, so a test can check the conversation.
It builds nothing; a test chooses failures with ``build_error`` / ``push_error``.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.44"
IMAGE_ID = "sha256:" + "ab" * 32
DIGEST = "sha256:" + "cd" * 32


@dataclass
class Recorded:
    """What the stand-in was asked."""

    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    build_query: dict[str, list[str]] = field(default_factory=dict)
    context_members: list[str] = field(default_factory=list)
    context_files: dict[str, bytes] = field(default_factory=dict)
    pushes: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)


class FakeDockerEngine:
    """Start with ``with FakeDockerEngine() as engine:``; ``engine.docker_host`` is the URL."""

    def __init__(self) -> None:
        self.recorded = Recorded()
        self.build_error: str | None = None
        self.push_error: str | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def docker_host(self) -> str:
        return f"tcp://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeDockerEngine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                path = self._route()
                if path == "/_ping":
                    self._send(200, b"OK", "text/plain")
                elif path == "/version":
                    self._send(200, json.dumps({
                        "Version": "fake", "ApiVersion": API_VERSION,
                        "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"}).encode())
                else:
                    self._not_found(path)

            def do_POST(self) -> None:
                path = self._route()
                body = self._body()
                query = parse_qs(urlsplit(self.path).query)
                if path == "/build":
                    engine._record_build(body, query)
                    self._stream(engine._build_lines(query))
                    return
                match = re.fullmatch(r"/images/(?P<name>.+)/push", path)
                if match:
                    engine.recorded.pushes.append((unquote(match["name"]), query))
                    self._stream(engine._push_lines(query))
                    return
                self._not_found(path)

            def _route(self) -> str:
                path = urlsplit(self.path).path
                engine.recorded.requests.append((self.command, path))
                return re.sub(r"^/v[0-9.]+(?=/)", "", path)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return bytes(data)
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, body: bytes,
                      content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Api-Version", API_VERSION)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, messages: list[dict[str, Any]]) -> None:
                # like the engine: a chunked body of JSON messages, one per chunk
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for message in messages:
                    data = (json.dumps(message) + "\r\n").encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def _not_found(self, path: str) -> None:
                self._send(404, json.dumps({"message": f"fake engine: no {path}"}).encode())

        return Handler

    def _record_build(self, body: bytes, query: dict[str, list[str]]) -> None:
        self.recorded.build_query = query
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
            for member in archive.getmembers():
                self.recorded.context_members.append(member.name)
                if member.isfile():
                    handle = archive.extractfile(member)
                    assert handle is not None
                    self.recorded.context_files[member.name] = handle.read()

    def _build_lines(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        dockerfile = self.recorded.context_files.get("Dockerfile", b"").decode()
        steps = [line for line in dockerfile.splitlines()
                 if line and not line.startswith((" ", "#"))]
        lines: list[dict[str, Any]] = [
            {"stream": f"Step {i}/{len(steps)} : {step}\n"} for i, step in
            enumerate(steps[:3], 1)]
        if self.build_error:
            return [*lines, {"errorDetail": {"message": self.build_error},
                             "error": self.build_error}]
        tag = (query.get("t") or [""])[0]
        return [*lines, {"aux": {"ID": IMAGE_ID}},
                {"stream": f"Successfully built {IMAGE_ID[7:19]}\n"},
                {"stream": f"Successfully tagged {tag}\n"}]

    def _push_lines(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        tag = (query.get("tag") or [""])[0]
        lines: list[dict[str, Any]] = [
            {"status": "The push refers to repository"},
            {"status": "Pushed", "progressDetail": {}, "id": "5f70bf18a086"}]
        if self.push_error:
            return [*lines, {"errorDetail": {"message": self.push_error},
                             "error": self.push_error}]
        return [*lines, {"status": f"{tag}: digest: {DIGEST} size: 1570"},
                {"progressDetail": {}, "aux": {"Tag": tag, "Digest": DIGEST, "Size": 1570}}]
