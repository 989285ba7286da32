"""The agent's side of the channel to the task runner (see ``leoflow.sdk.channel``).

The agent serves the runner's requests (``xcom_pull``, ``xcom_push``) with calls to the
control plane and keeps the final message (``result``, ``skip`` or ``error``). Reading is
bounded: a message longer than ``MAX_MESSAGE_BYTES`` ends the task with a clear error
rather than growing the agent's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from leoflow.sdk.channel import FINAL_OPS, OP_REPLY

MAX_MESSAGE_BYTES = 32 * 1024 * 1024

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class AgentChannel:
    """JSON lines in both directions over the two pipes shared with the runner."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.final: dict[str, Any] | None = None
        self.protocol_error: str | None = None

    @classmethod
    async def open(cls, read_fd: int, write_fd: int) -> AgentChannel:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES, loop=loop)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                     os.fdopen(read_fd, "rb", buffering=0))
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(write_fd, "wb", buffering=0))
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return cls(reader, writer)

    async def send(self, message: dict[str, Any]) -> None:
        """Write one message; a runner that already died is not an error here."""
        try:
            self._writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            await self._writer.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def serve(self, handler: Handler) -> None:
        """Answer requests until the runner closes its end; remember the final message."""
        while True:
            try:
                line = await self._reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self.protocol_error = (f"the task runner sent a message over "
                                       f"{MAX_MESSAGE_BYTES // (1024 * 1024)} MB (a huge return "
                                       "value?); return less data or write it to storage")
                return
            if not line:
                return
            try:
                message = json.loads(line)
            except ValueError:
                self.protocol_error = f"the task runner sent invalid JSON: {line[:200]!r}"
                return
            op = message.get("op")
            if op in FINAL_OPS:
                self.final = message
                continue
            reply: dict[str, Any] = {"op": OP_REPLY, "id": message.get("id")}
            try:
                reply.update(ok=True, value=await handler(message))
            except Exception as exc:  # any failure goes back to the user's code as an error
                reply.update(ok=False, error={"type": type(exc).__name__, "message": str(exc)})
            await self.send(reply)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
