"""The agents' fork server: imports the agent once, then forks one agent per try.

An agent spends most of its start-up importing (gRPC, protobuf, Jinja, the SDK: ~130-200 ms
of CPU on 2 cores, more than the rest of a trivial task). The subprocess executor
(``leoflow.engine.executors.fork_client``) runs this module once, as
``python -m leoflow.agent.fork_server``, and asks it for a fork per try: a few milliseconds
instead of a new interpreter. It never opens a gRPC channel, runs no event loop and has one
thread, so each child starts clean.

Protocol. Requests on stdin, one JSON line each: ``{"id": n, "env": {...}, "output": path,
"cgroup": procs file or "", "user": {...} or null}``. The child joins that cgroup first
(the try's process tree, try_tree.py), gets its own session, its output file as stdout and
stderr, exactly ``env`` as its environment, drops to ``user`` (``privileges.drop``: a
tenant's OS user, isolation.py) and only then runs the agent. Answers on stdout:
``{"ready": pid}`` once, ``{"id": n, "pid": p}`` once forked, ``{"exit": p, "code": c}``
when a child ended (c < 0: killed by signal -c). End of input: fork no more and exit
(children live on; they are in their own sessions).
"""

from __future__ import annotations

# Imported here, once, before any fork: what every agent would otherwise import itself
# (concurrent.futures.thread: asyncio's default executor, for a bash task's or a template's
# rendering; a cProfile of forked agents showed it imported in each, ~1.6 ms).
import concurrent.futures.thread  # noqa: F401
import contextlib
import json
import os
import select
import signal
import sys
from collections.abc import Iterable
from typing import Any

import leoflow.agent.agent
import leoflow.agent.privileges
from leoflow.agent.main import main as agent_main
from leoflow.agent.process import sdk_package


def warm() -> None:
    """What each agent would otherwise compute again after the fork: the SDK's folder for
    the user process's path (a path resolution, and OpenSSL's first SHA-256, ~2 ms in a
    fresh child; every later hash, the zygote's key among them, is then cheap)."""
    sdk_package()


def child(request: dict[str, Any], fds: Iterable[int]) -> None:
    """In the forked child: set up the try's process and run the agent; never returns."""
    if request.get("cgroup"):
        try:
            with open(request["cgroup"], "w") as handle:
                handle.write("0")
        except OSError:
            pass
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in fds:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)
    os.environ.clear()
    os.environ.update(request["env"])
    code: object = 1
    try:
        leoflow.agent.privileges.drop(request.get("user"))  # a tenant's user (isolation.py)
        code = agent_main([])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code if isinstance(code, int) else 1)


def say(message: dict[str, Any]) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


def reap() -> None:
    """Report every child that has ended (called on SIGCHLD)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        say({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def main() -> None:
    """Fork on each request line until stdin ends; report exits as they happen."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    warm()
    say({"ready": os.getpid()})
    pending = b""
    while True:
        try:
            ready, _, _ = select.select([0, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            reap()
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    child(request, (0, 1, wake_r, wake_w))
                say({"id": request["id"], "pid": pid})


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
