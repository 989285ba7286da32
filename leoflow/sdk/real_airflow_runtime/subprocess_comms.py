"""The supervisor's socket for a task's Python subprocesses (``ExternalPythonOperator``,
``PythonVirtualenvOperator``, ``@task.external_python``...).

Airflow's supervisor hands its task process a socket and names its descriptor in
``__AIRFLOW_SUPERVISOR_FD``; a virtualenv operator passes that variable to the interpreter it
starts, whose script calls ``task_runner.reinit_supervisor_comms()`` and talks to the
supervisor over the inherited socket (variables, connections, XComs), in Airflow's frames: a
4-byte big-endian length, then a msgpack ``_RequestFrame``/``_ResponseFrame``. Without one,
that call opens descriptor 0 as a socket and the subprocess dies (``OSError: [Errno 88]
Socket operation on non-socket``).

Here the task runner has no supervisor process: ``serving(comms)`` opens a socket pair for
the try, names its child end in ``__AIRFLOW_SUPERVISOR_FD`` (inheritable, as Airflow's
supervisor does) and answers each frame from a thread with ``LeoflowComms`` (so a
subprocess's request is served exactly as the task's own). ``ResendLoggingFD`` is answered
with a copy of the runner's stdout (the try's log), where the subprocess then writes its
log lines.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

ENV_FD = "__AIRFLOW_SUPERVISOR_FD"


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _answer(comms: Any, body: Any, adapter: Any, comms_module: Any) -> tuple[Any, Any]:
    """(response body, error) for one request body."""
    msg = adapter.validate_python(body)
    try:
        answer = comms.send(msg)
    except Exception as exc:  # UnsupportedRequest and the like: the subprocess's call fails
        error_type = importlib.import_module("airflow.sdk.exceptions").ErrorType
        return None, comms_module.ErrorResponse(
            error=error_type("GENERIC_ERROR"),
            detail={"message": f"{type(exc).__name__}: {exc}"}).model_dump()
    if answer is None:
        return None, None
    if getattr(answer, "type", None) == "ErrorResponse":
        return None, answer.model_dump()
    return answer.model_dump(), None


def _serve(sock: socket.socket, comms: Any) -> None:
    msgspec = importlib.import_module("msgspec")
    module = importlib.import_module("airflow.sdk.execution_time.comms")
    adapter = importlib.import_module("pydantic").TypeAdapter(module.ToSupervisor)
    decoder = msgspec.msgpack.Decoder(module._RequestFrame)
    with contextlib.suppress(OSError):
        while True:
            head = _read_exact(sock, 4)
            if head is None:
                return
            payload = _read_exact(sock, int.from_bytes(head, "big"))
            if payload is None:
                return
            frame = decoder.decode(payload)
            if (frame.body or {}).get("type") == "ResendLoggingFD":
                _send_log_fd(sock, frame.id, module)
                continue
            try:
                body, error = _answer(comms, frame.body, adapter, module)
            except Exception as exc:  # a request this SDK cannot even parse
                body, error = None, {"error": "GENERIC_ERROR", "detail": {"message": str(exc)},
                                     "type": "ErrorResponse"}
            sock.sendall(bytes(module._ResponseFrame(id=frame.id, body=body,
                                                     error=error).as_bytes()))


def _send_log_fd(sock: socket.socket, request_id: int, module: Any) -> None:
    """``SentFDs`` with a copy of this process's stdout: the subprocess writes its log lines
    there (as JSON, Airflow's form for a supervisor), and stdout is the try's log."""
    out = os.dup(1)
    try:
        frame = module._ResponseFrame(id=request_id, body=module.SentFDs(fds=[]).model_dump())
        socket.send_fds(sock, [bytes(frame.as_bytes())], [out])
    finally:
        os.close(out)


@contextlib.contextmanager
def serving(comms: Any) -> Iterator[None]:
    """Answer the task's subprocesses over ``__AIRFLOW_SUPERVISOR_FD`` while the task runs."""
    ours, theirs = socket.socketpair()
    os.set_inheritable(theirs.fileno(), True)
    previous = os.environ.get(ENV_FD)
    os.environ[ENV_FD] = str(theirs.fileno())
    thread = threading.Thread(target=_serve, args=(ours, comms), daemon=True,
                              name="airflow-subprocess-comms")
    thread.start()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ENV_FD, None)
        else:
            os.environ[ENV_FD] = previous
        with contextlib.suppress(OSError):
            ours.shutdown(socket.SHUT_RDWR)
        ours.close()
        theirs.close()
        thread.join(5)
