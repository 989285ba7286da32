"""The subprocess executor's side of the agents' fork server (``leoflow.agent.fork_server``).

An agent spends most of its start-up importing (~130-200 ms of CPU on 2 cores), so the
executor starts one process that does these imports once and forks an agent from it for
each try: a few milliseconds instead of a new interpreter. Here: starting that process
(``python -m leoflow.agent.fork_server``; the engine runs it, it never imports the agent),
asking it for a fork, reading the exits it reports, and ``ForkServerKeeper``, the one server
an executor keeps: started on demand, stopped after ``idle`` seconds without a start (an idle
control plane keeps no spare process), given up after three failed starts (a try is then
started the plain way). The protocol is written in the fork server's module docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
from pathlib import Path

from leoflow.engine.executors.agent_processes import (
    ORPHAN_POLL,
    alive,
    kill_group,
    passed_through_env,
)

log = logging.getLogger("leoflow.executor.subprocess")

FORK_SERVER_MODULE = "leoflow.agent.fork_server"
FORK_IDLE = 60.0  # seconds without a start after which the fork server is stopped
STARTS_BEFORE_GIVING_UP = 3


class ForkedAgent:
    """An agent forked by the fork server: what ``asyncio.subprocess.Process`` offers here."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.status_unknown = False  # it ended after its fork server stopped
        self._ended = asyncio.Event()

    def ended(self, code: int, *, unknown: bool = False) -> None:
        if self.returncode is None:
            self.returncode = code
            self.status_unknown = unknown
            self._ended.set()

    async def wait(self) -> int:
        await self._ended.wait()
        if self.returncode is None:  # set before the event, always
            raise RuntimeError(f"agent {self.pid} ended without a return code")
        return self.returncode


class ForkServer:
    """The fork server process and the bookkeeping of what it forked."""

    def __init__(self, process: asyncio.subprocess.Process, errors: Path) -> None:
        self.process = process
        self.errors = errors  # its own stderr (a crash of the server itself lands here)
        self.forked: dict[int, ForkedAgent] = {}
        self._replies: dict[int, asyncio.Future[ForkedAgent]] = {}
        self._ids = itertools.count()
        self._lock = asyncio.Lock()
        self.reader: asyncio.Task[None] | None = None
        self.pollers: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, env: dict[str, str], output: Path) -> ForkServer:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", FORK_SERVER_MODULE, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=fd,
                start_new_session=True)
        finally:
            os.close(fd)
        server = cls(process, output)
        try:
            first = await asyncio.wait_for(server._stdout.readline(), 30.0)
            if not first.startswith(b'{"ready"'):
                raise RuntimeError(f"unexpected first line {first[:200]!r}")
        except BaseException:
            kill_group(process.pid)
            await process.wait()
            raise
        server.reader = asyncio.create_task(server._read(), name="leoflow-fork-server")
        return server

    @property
    def _stdout(self) -> asyncio.StreamReader:
        if self.process.stdout is None:
            raise RuntimeError("the fork server was started without a stdout pipe")
        return self.process.stdout

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and self.reader is not None \
            and not self.reader.done()

    async def fork(self, env: dict[str, str], output: Path, cgroup: str = "",
                   user: dict[str, object] | None = None) -> ForkedAgent:
        stdin = self.process.stdin
        if stdin is None:
            raise RuntimeError("the fork server was started without a stdin pipe")
        request_id = next(self._ids)
        reply = self._replies[request_id] = asyncio.get_running_loop().create_future()
        line = json.dumps({"id": request_id, "env": env, "output": str(output),
                           "cgroup": cgroup, "user": user})
        try:
            async with self._lock:
                stdin.write(line.encode() + b"\n")
                await stdin.drain()
            return await asyncio.wait_for(reply, 10.0)
        finally:
            self._replies.pop(request_id, None)

    async def _read(self) -> None:
        try:
            async for raw in self._stdout:
                message = json.loads(raw)
                if "exit" in message:
                    # always after the fork's answer (one pipe, in order)
                    ended = self.forked.pop(int(message["exit"]), None)
                    if ended is not None:
                        ended.ended(int(message["code"]))
                elif "id" in message:
                    pid = int(message["pid"])
                    future = self._replies.get(message["id"])
                    if future is None or future.done():
                        kill_group(pid)  # nobody waits for it any more: the try started anew
                        continue
                    # registered here, before its exit can be read, however fast it is
                    future.set_result(self.forked.setdefault(pid, ForkedAgent(pid)))
        except Exception:
            log.exception("the fork server's answers could not be read")
        finally:
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(RuntimeError("the fork server exited"))
            # children it had not reported: watch their pids (they are not ours to wait)
            for forked in list(self.forked.values()):
                if forked.returncode is None:
                    self.pollers.add(asyncio.create_task(poll_exit(forked),
                                                         name=f"agent-poll-{forked.pid}"))

    async def stop(self) -> None:
        """End of input: the server exits; the agents it forked keep running."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5.0)
        except TimeoutError:
            kill_group(self.process.pid)
            await self.process.wait()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        with contextlib.suppress(OSError):
            if self.errors.stat().st_size == 0:
                self.errors.unlink()

    async def forget(self) -> None:
        """Stop watching the agents it forked (they belong to the next control plane)."""
        for poller in self.pollers:
            poller.cancel()
        await asyncio.gather(*self.pollers, return_exceptions=True)


async def poll_exit(forked: ForkedAgent) -> None:
    """Wait for an agent whose fork server stopped: its exit status is unknown."""
    while alive(forked.pid):
        await asyncio.sleep(ORPHAN_POLL)
    forked.ended(1, unknown=True)


class ForkServerKeeper:
    """The one fork server of an executor: started on demand, stopped when idle."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir  # where its stderr file goes
        self._server: ForkServer | None = None
        self._lock = asyncio.Lock()
        self._failures = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()

    def pid(self) -> int | None:
        """The fork server's process id while it runs."""
        return self._server.process.pid if self._server and self._server.alive else None

    async def fork(self, env: dict[str, str], output: Path, cgroup: str,
                   user: dict[str, object] | None, *, idle: float) -> ForkedAgent | None:
        """An agent forked by the fork server; None to start it the plain way. The server
        stops after ``idle`` seconds without another fork."""
        server = await self._running_server()
        if server is None:
            return None
        self._restart_idle_timer(idle)
        try:
            return await server.fork(env, output, cgroup, user)
        except Exception as exc:
            log.warning("the fork server could not start an agent (%s); starting it plainly",
                        exc)
            return None

    async def _running_server(self) -> ForkServer | None:
        async with self._lock:
            if self._server is not None and self._server.alive:
                return self._server
            if self._failures >= STARTS_BEFORE_GIVING_UP:
                return None  # it keeps failing here: plain starts from now on
            self._server = None
            base = passed_through_env()
            base["PYTHONUNBUFFERED"] = "1"
            try:
                self.output_dir.mkdir(parents=True, exist_ok=True)
                self._server = await ForkServer.start(
                    base, self.output_dir / f"fork-server-{os.getpid()}.err")
            except Exception:
                self._failures += 1
                log.exception("could not start the agents' fork server")
                return None
            return self._server

    def _restart_idle_timer(self, idle: float) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = asyncio.get_running_loop().call_later(idle, self._stop_idle_server)

    def _stop_idle_server(self) -> None:
        self._idle_timer = None
        server, self._server = self._server, None
        if server is not None:
            job = asyncio.create_task(server.stop(), name="leoflow-fork-server-idle")
            self._background.add(job)
            job.add_done_callback(self._background.discard)

    def cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()

    async def close(self, *, keep_agents: bool) -> None:
        """Stop the server (after the agents: it reports their exits); its children run on.
        With ``keep_agents`` they are no longer watched either (the next plane adopts them)."""
        async with self._lock:
            server, self._server = self._server, None
        if server is not None:
            await server.stop()
            if keep_agents:
                await server.forget()
        await asyncio.gather(*self._background, return_exceptions=True)
