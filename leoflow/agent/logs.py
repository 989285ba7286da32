"""The user process's output, read in chunks and shipped in batches to ``StreamLogs``.

Memory stays bounded whatever the task prints: pipes are read in 64 KB chunks, a line longer
than ``MAX_LINE_BYTES`` is cut (its remainder dropped until the next newline), and at most
``max_pending_lines`` lines (and about ``max_pending_bytes`` of text) wait for the control
plane. When that buffer is full the reader
stops reading, the pipe fills and the user's ``print`` blocks: back-pressure instead of
growth, and no line is dropped while the control plane keeps up.

Every line is masked before it is queued (``LogShipper.masker``: the variables and
connections the try received and what its code registered with ``mask_secret``), so a
secret never leaves the agent in clear (docs/security.md, "Secrets in logs").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable

import grpc

from leoflow.agent.client import REJECTED, ControlPlaneClient, describe
from leoflow.rpc import agent_pb2 as pb
from leoflow.sdk.secrets_masker import SecretsMasker

MAX_LINE_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024
TRUNCATED = " [... line truncated by leoflow-agent at 64 KB]"


class LineSplitter:
    """Split a byte stream into text lines, cutting absurdly long ones."""

    def __init__(self, encoding: str = "utf-8", max_line: int = MAX_LINE_BYTES) -> None:
        self._partial = bytearray()
        self._cut = False
        self._encoding = encoding
        self._max = max_line

    def _text(self, data: bytes | bytearray) -> str:
        text = bytes(data).decode(self._encoding, "replace")
        return text[:-1] if text.endswith("\r") else text

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            piece = data[start:] if newline < 0 else data[start:newline]
            if not self._cut:
                room = self._max - len(self._partial)
                self._partial += piece[:room]
                if len(piece) > room:
                    self._cut = True
            if newline < 0:
                return lines
            lines.append(self._text(self._partial) + (TRUNCATED if self._cut else ""))
            self._partial.clear()
            self._cut = False
            start = newline + 1

    def finish(self) -> list[str]:
        """The last line when the stream ended without a newline."""
        if not self._partial and not self._cut:
            return []
        line = self._text(self._partial) + (TRUNCATED if self._cut else "")
        self._partial.clear()
        self._cut = False
        return [line]


LINES_PER_MESSAGE = 1000


class LogShipper:
    """Feeds one ``StreamLogs`` call for the whole try from a bounded buffer."""

    def __init__(self, client: ControlPlaneClient, max_pending_lines: int = 5000,
                 max_pending_bytes: int = 4 * 1024 * 1024,
                 masker: SecretsMasker | None = None) -> None:
        self._client = client
        self.masker = masker if masker is not None else SecretsMasker()
        self._max = max_pending_lines
        self._max_bytes = max_pending_bytes
        self._batches: collections.deque[tuple[str, float, list[str], int]] = (
            collections.deque())
        self._pending = 0
        self._pending_bytes = 0
        self._changed = asyncio.Condition()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.lines_sent = 0
        self.lines_dropped = 0
        self.lines_stored: int | None = None
        self.error: str | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="leoflow-stream-logs")

    async def put(self, stream: str, lines: list[str], timestamp: float | None = None) -> None:
        """Queue lines; waits while the buffer is full (back-pressure on the reader)."""
        if not lines:
            return
        if len(self.masker):
            lines = [self.masker.redact(line) for line in lines]
        size = sum(len(line) for line in lines)
        async with self._changed:
            await self._changed.wait_for(
                lambda: (self._pending < self._max and self._pending_bytes < self._max_bytes)
                or self._closed)
            self._batches.append((stream, timestamp or time.time(), lines, size))
            self._pending += len(lines)
            self._pending_bytes += size
            self._changed.notify_all()

    async def agent_line(self, text: str) -> None:
        """A line of the agent's own (``stream="agent"``): what it runs and how it ended."""
        await self.put("agent", [text])

    async def _next_batch(self) -> tuple[str, float, list[str]] | None:
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._batches) or self._closed)
            if not self._batches:
                return None
            stream, timestamp, lines, size = self._batches.popleft()
            self._pending -= len(lines)
            self._pending_bytes -= size
            self._changed.notify_all()
            return stream, timestamp, lines

    async def _messages(self) -> AsyncIterator[pb.LogBatch]:
        """One ``LogBatch`` per chunk read (at most ``LINES_PER_MESSAGE`` lines each): a
        message per line would cap a chatty task at a few thousand lines a second."""
        while (batch := await self._next_batch()) is not None:
            stream, timestamp, lines = batch
            for start in range(0, len(lines), LINES_PER_MESSAGE):
                chunk = lines[start:start + LINES_PER_MESSAGE]
                self.lines_sent += len(chunk)
                yield pb.LogBatch(lines=[pb.LogLine(stream=stream, line=line,
                                                    timestamp=timestamp) for line in chunk])

    async def _drain(self) -> None:
        """After the stream broke: keep the user process unblocked, count what is lost."""
        while (batch := await self._next_batch()) is not None:
            self.lines_dropped += len(batch[2])

    async def _run(self) -> None:
        for attempt in range(3):
            try:
                response = await self._client.stream_logs(self._messages())
                self.lines_stored = (self.lines_stored or 0) + response.lines_stored
                return
            except grpc.aio.AioRpcError as error:
                self.error = describe(error)
                print(f"leoflow-agent: StreamLogs failed ({self.error})", file=sys.stderr,
                      flush=True)
                if error.code() in REJECTED or attempt == 2:
                    break
                await asyncio.sleep(0.5 * (attempt + 1))
        await self._drain()

    async def close(self, timeout: float = 60.0) -> None:
        """Flush what is queued and finish the call (bounded by ``timeout``)."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self.error = f"StreamLogs did not finish within {timeout:g} s"
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task


async def pump(reader: asyncio.StreamReader, stream: str, shipper: LogShipper, *,
               encoding: str = "utf-8",
               on_lines: Callable[[list[str]], None] | None = None) -> None:
    """Read ``reader`` to its end, shipping every line; ``on_lines`` sees them too."""
    splitter = LineSplitter(encoding)
    while True:
        data = await reader.read(CHUNK_BYTES)
        lines = splitter.feed(data) if data else splitter.finish()
        if lines:
            if on_lines is not None:
                on_lines(lines)
            await shipper.put(stream, lines)
        if not data:
            return
