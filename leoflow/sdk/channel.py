"""The task runner's side of the channel to the agent: JSON lines on two inherited pipes.

Why not stdout: stdout and stderr belong to the user's prints and are streamed as logs, so
the runner's messages travel on their own pipes, whose numbers the agent puts in
``LEOFLOW_CHANNEL_IN`` (agent → runner) and ``LEOFLOW_CHANNEL_OUT`` (runner → agent).

Messages are JSON objects, one per line, with an ``op``:

* agent → runner: ``task`` (the first message: what to run), ``reply`` (to a request:
  ``{"id", "ok": true, "value"}`` or ``{"id", "ok": false, "error": {"type", "message"}}``)
* runner → agent, requests answered by a ``reply``: ``xcom_pull`` (``task_ids``, ``key``,
  ``map_indexes`` or null), ``xcom_push`` (``key``, ``value``), ``asset_events``
  (``ref``: a dag.json asset reference, ``limit``, ``ascending``, ``after``, ``before``;
  answered with a list of events as JSON) and ``asset_state`` (``ref``, ``action``: get |
  set | delete | clear, ``key``, ``value``; a get is answered ``{"found", "value"}``), see
  ``leoflow.sdk.asset_inlet_events`` and ``leoflow.sdk.asset_state_store``
* runner → agent, the last message: ``result`` (``value``, and ``outlet_events`` when the
  task recorded any: ``[{"ref", "extra", "partition_keys", "added"}]``), ``skip`` (``message``),
  ``error`` (``type``, ``message``, ``traceback``, ``no_retry``), ``reschedule``
  (``reschedule_date``: epoch s, a reschedule-mode sensor not done yet) or ``defer``
  (``trigger``: ``{"kind", "kwargs"}``, ``next_method``, ``next_kwargs``, ``timeout``: s or
  null)

Standard library only: this runs in the DAG's own interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import IO, Any

ENV_IN = "LEOFLOW_CHANNEL_IN"
ENV_OUT = "LEOFLOW_CHANNEL_OUT"

OP_TASK = "task"
OP_REPLY = "reply"
OP_XCOM_PULL = "xcom_pull"
OP_XCOM_PUSH = "xcom_push"
OP_RESULT = "result"
OP_SKIP = "skip"
OP_ERROR = "error"
OP_RESCHEDULE = "reschedule"
OP_DEFER = "defer"
FINAL_OPS = frozenset({OP_RESULT, OP_SKIP, OP_ERROR, OP_RESCHEDULE, OP_DEFER})


class ChannelError(RuntimeError):
    """The agent closed the channel or answered something unexpected."""


class RemoteError(Exception):
    """The agent could not serve a request (e.g. the control plane refused an XCom)."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class Channel:
    """Blocking request/response over two pipes; thread-safe (one request at a time)."""

    def __init__(self, reader: IO[str], writer: IO[str]) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = threading.Lock()
        self._next_id = 0

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Channel:
        env = os.environ if environ is None else environ
        try:
            fd_in, fd_out = int(env[ENV_IN]), int(env[ENV_OUT])
        except (KeyError, ValueError):
            raise ChannelError(
                f"{ENV_IN} and {ENV_OUT} must name the channel's file descriptors; the task "
                "runner is started by leoflow-agent, not by hand") from None
        # the user's own subprocesses must not inherit (and so hold open) the channel
        os.set_inheritable(fd_in, False)
        os.set_inheritable(fd_out, False)
        return cls(os.fdopen(fd_in, "r", encoding="utf-8"),
                   os.fdopen(fd_out, "w", encoding="utf-8"))

    def send(self, message: dict[str, Any]) -> None:
        """Write one message; ``TypeError``/``ValueError`` if it is not JSON."""
        line = json.dumps(message, separators=(",", ":"))
        self._writer.write(line + "\n")
        self._writer.flush()

    def receive(self) -> dict[str, Any]:
        line = self._reader.readline()
        if not line:
            raise ChannelError("the agent closed the channel")
        message = json.loads(line)
        if not isinstance(message, dict) or "op" not in message:
            raise ChannelError(f"unexpected message from the agent: {line[:200]!r}")
        return message

    def request(self, op: str, **fields: Any) -> Any:
        """Send a request and wait for its reply; return the value or raise ``RemoteError``."""
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            self.send({"op": op, "id": request_id, **fields})
            while True:
                reply = self.receive()
                if reply.get("op") == OP_REPLY and reply.get("id") == request_id:
                    break
        if reply.get("ok"):
            return reply.get("value")
        error = reply.get("error") or {}
        raise RemoteError(str(error.get("type", "Error")), str(error.get("message", "")))

    def close(self) -> None:
        for stream in (self._writer, self._reader):
            with contextlib.suppress(OSError):
                stream.close()


class ChannelTransport:
    """``ti.xcom_pull`` / ``ti.xcom_push`` in the user process: requests to the agent."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def pull(self, task_ids: list[str], key: str, map_indexes: list[int] | None) -> list[Any]:
        values = self._channel.request(OP_XCOM_PULL, task_ids=task_ids, key=key,
                                       map_indexes=map_indexes)
        return list(values) if isinstance(values, list) else [values]

    def push(self, key: str, value: Any) -> None:
        self._channel.request(OP_XCOM_PUSH, key=key, value=value)
