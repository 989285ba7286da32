"""The subprocess executor: one ``leoflow-agent`` process per try (Lite's executor).

Each agent runs in its own process group, with only the variables it needs (the server
address, the task instance id, a per-try token) on top of a minimal environment: never the
control plane's own secrets. Cancelling kills the group. An agent that exits without having
reported a state (killed, crashed) fails the try at once; after a control-plane restart,
agents that are still alive keep running and report to the new server, and those that are
gone are reported failed.

An agent's own output (its diagnostics; the task's output goes over gRPC) is written to a
file, not a pipe: an agent must survive the control plane that started it, and a pipe
would break under it (its next diagnostic would die of EPIPE) when that process exits.
The file is copied into the try's log when the agent exits, then removed.

Fork server: an agent spends most of its start-up importing (gRPC, protobuf, Jinja, the
SDK: ~130-200 ms of CPU on 2 cores, more than the rest of a trivial task). So the executor
starts one process that does these imports once and forks an agent from it for each try
(``fork_server=True``, the default): a few milliseconds instead of a new interpreter. The
fork server never opens a gRPC channel, runs no event loop and has one thread, so each
child starts clean; a child gets its own session, its own output file, and an environment
made of the same minimal variables and the try's id and token (sent over a pipe, never put
in an environment the server had). Every try still runs in a process of its own that ran
no other try, and the user's code runs in yet another process (the DAG's interpreter).
The fork server reports each child's exit status back. It is stopped after ``fork_idle``
seconds without a start (an idle control plane keeps no spare process), restarted on
demand, and a try is started the plain way (``python -m leoflow.agent``) whenever the
fork server is unavailable.

Tenants: ``task_users`` (isolation.py) says which OS user runs each try. On a root control
plane a tenant's agent runs as that tenant's user (the forked child drops to it once it has
joined the try's cgroup and opened its output file); a try it refuses fails at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from leoflow.engine import faults
from leoflow.engine.executors.base import EventCallback, ExecutorEvent, TaskLaunch
from leoflow.engine.executors.isolation import IsolationRefused, TaskUsers, TryUser
from leoflow.engine.executors.try_tree import TryTree, end_leftovers, sweep_empty
from leoflow.engine.spec.model import TaskSpec

log = logging.getLogger("leoflow.executor.subprocess")

# Variables copied from the control plane's environment into an agent's: what a process
# needs to start and find binaries, nothing that could carry a secret.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT",
                  "UV_CACHE_DIR", "UV_INDEX_URL", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
KILL_GRACE = 5.0
OUTPUT_TAIL_BYTES = 64 * 1024  # what is kept of an agent's own output (a traceback fits)
ORPHAN_POLL = 0.5  # seconds between liveness checks of an agent adopted after a restart
FORK_IDLE = 60.0  # seconds without a start after which the fork server is stopped
EXIT_REJECTED = 4  # leoflow-agent's exit code when the control plane refused its token

# The fork server, run as ``python -c``. Requests on stdin, one JSON line each:
# {"id": n, "env": {...}, "output": path, "cgroup": procs file or ""} (the child joins that
# cgroup first); answers on stdout: {"id": n, "pid": p} once forked, {"exit": p, "code": c}
# when a child ended (c < 0: killed by signal -c).
# End of input: fork no more and exit (children live on; they are in their own sessions).
FORK_SERVER = r"""
import json, os, select, signal, sys
import leoflow.agent.agent, leoflow.agent.main, leoflow.agent.privileges

def child(request, fds):
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
    code = 1
    try:
        leoflow.agent.privileges.drop(request.get("user"))  # a tenant's user (isolation.py)
        code = leoflow.agent.main.main([])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code if isinstance(code, int) else 1)

def say(message):
    os.write(1, (json.dumps(message) + "\n").encode())

def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        say({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

def main():
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    say({"ready": os.getpid()})
    pending = b""
    while True:
        try:
            ready, _, _ = select.select([0, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
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

try:
    main()
except BrokenPipeError:
    pass
"""


class _Forked:
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
        assert self.returncode is not None
        return self.returncode


class _ForkServer:
    """The fork server process and the bookkeeping of what it forked."""

    def __init__(self, process: asyncio.subprocess.Process, errors: Path) -> None:
        self.process = process
        self.errors = errors  # its own stderr (a crash of the server itself lands here)
        self.forked: dict[int, _Forked] = {}
        self._replies: dict[int, asyncio.Future[_Forked]] = {}
        self._ids = itertools.count()
        self._lock = asyncio.Lock()
        self.reader: asyncio.Task[None] | None = None
        self.pollers: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, env: dict[str, str], output: Path) -> _ForkServer:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", FORK_SERVER, env=env, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=fd, start_new_session=True)
        finally:
            os.close(fd)
        server = cls(process, output)
        assert process.stdout is not None
        try:
            first = await asyncio.wait_for(process.stdout.readline(), 30.0)
            if not first.startswith(b'{"ready"'):
                raise RuntimeError(f"unexpected first line {first[:200]!r}")
        except BaseException:
            _kill_group(process.pid)
            await process.wait()
            raise
        server.reader = asyncio.create_task(server._read(), name="leoflow-fork-server")
        return server

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and self.reader is not None \
            and not self.reader.done()

    async def fork(self, env: dict[str, str], output: Path, cgroup: str = "",
                   user: dict[str, object] | None = None) -> _Forked:
        assert self.process.stdin is not None
        request_id = next(self._ids)
        reply = self._replies[request_id] = asyncio.get_running_loop().create_future()
        line = json.dumps({"id": request_id, "env": env, "output": str(output),
                           "cgroup": cgroup, "user": user})
        try:
            async with self._lock:
                self.process.stdin.write(line.encode() + b"\n")
                await self.process.stdin.drain()
            return await asyncio.wait_for(reply, 10.0)
        finally:
            self._replies.pop(request_id, None)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            async for raw in self.process.stdout:
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
                        _kill_group(pid)  # nobody waits for it any more: the try started anew
                        continue
                    # registered here, before its exit can be read, however fast it is
                    future.set_result(self.forked.setdefault(pid, _Forked(pid)))
        except Exception:
            log.exception("the fork server's answers could not be read")
        finally:
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(RuntimeError("the fork server exited"))
            # children it had not reported: watch their pids (they are not ours to wait)
            for forked in list(self.forked.values()):
                if forked.returncode is None:
                    self.pollers.add(asyncio.create_task(_poll_exit(forked),
                                                         name=f"agent-poll-{forked.pid}"))

    async def stop(self) -> None:
        """End of input: the server exits; the agents it forked keep running."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5.0)
        except TimeoutError:
            _kill_group(self.process.pid)
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


async def _poll_exit(forked: _Forked) -> None:
    while _alive(forked.pid):
        await asyncio.sleep(ORPHAN_POLL)
    forked.ended(1, unknown=True)


@dataclass
class _Agent:
    launch: TaskLaunch
    process: asyncio.subprocess.Process | _Forked
    output: Path
    tree: TryTree | None = None
    watcher: asyncio.Task[None] | None = None
    reported: bool = False
    cancelled: str | None = None
    tree_ended: asyncio.Task[None] | None = None
    user: TryUser | None = None  # the tenant's OS user it runs as (isolation.py)


@dataclass
class _Orphan:
    """An agent started by an earlier control plane, alive when this one started."""

    launch: TaskLaunch
    watcher: asyncio.Task[None] | None = None
    reported: bool = False
    tree: TryTree | None = None


class SubprocessExecutor:
    """Starts agents as child processes; ``slots`` caps how many run at once."""

    name = "subprocess"

    def __init__(self, *, address: str,
                 mint_token: Callable[[TaskLaunch], Awaitable[str]],
                 agent_command: Sequence[str] | None = None,
                 on_agent_output: Callable[[TaskLaunch, str], Awaitable[None]] | None = None,
                 extra_env: dict[str, str] | None = None,
                 output_dir: Path | None = None, fork_server: bool = True,
                 fork_idle: float = FORK_IDLE, task_users: TaskUsers | None = None) -> None:
        self.address = address
        self.output_dir = Path(output_dir) if output_dir is not None else Path(
            tempfile.gettempdir()) / f"leoflow-agents-{os.getuid()}"
        self.mint_token = mint_token
        self.agent_command = list(agent_command or [sys.executable, "-m", "leoflow.agent"])
        self.on_agent_output = on_agent_output
        self.extra_env = dict(extra_env or {})
        # a custom agent command is run as it is (the fork server runs leoflow's agent)
        self.fork_server = fork_server and agent_command is None
        self.fork_idle = fork_idle
        self._callback: EventCallback | None = None
        self._agents: dict[str, _Agent] = {}
        self._orphans: dict[str, _Orphan] = {}
        self._server: _ForkServer | None = None
        self._server_lock = asyncio.Lock()
        self._server_failures = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        self.task_users = task_users  # which OS user runs each try (isolation.py)

    def set_callback(self, callback: EventCallback) -> None:
        self._callback = callback

    def running(self) -> list[str]:
        """Task instance ids whose agent process is alive (for diagnostics and tests)."""
        return [ti_id for ti_id, a in self._agents.items() if a.process.returncode is None]

    def fork_server_pid(self) -> int | None:
        """The fork server's process id while it runs (for diagnostics and tests)."""
        return self._server.process.pid if self._server and self._server.alive else None

    def pid_of(self, ti_id: str) -> int | None:
        agent = self._agents.get(ti_id)
        return agent.process.pid if agent else None

    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        user: TryUser | None = None
        if self.task_users is not None:
            try:
                user = await self.task_users.for_try(launch)
            except IsolationRefused as exc:
                await self._failed(launch, str(exc), no_retry=True)
                return
        token = await self.mint_token(launch)
        output = self._fresh_output_path(launch)
        output.parent.mkdir(parents=True, exist_ok=True)
        # every process of the try ends with it (try_tree.py): a cgroup the agent joins
        # before it runs anything, or a marker its whole tree inherits
        tree = await asyncio.to_thread(TryTree.create, launch.ti_id, launch.try_number)
        env = {**self._agent_env(), "LEOFLOW_TI_ID": launch.ti_id, "LEOFLOW_TOKEN": token,
               **faults.agent_env(launch.ti_id, launch.task_id, launch.try_number),
               **tree.env, **(user.env if user else {})}
        process = await self._fork(env, output, tree.procs_file, user)
        if process is None:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.agent_command, env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=fd, stderr=fd, start_new_session=True, **_as_user(user))
            except BaseException:
                tree.discard()
                if self.task_users is not None:
                    self.task_users.release(user)
                raise
            finally:
                os.close(fd)
            # still importing (it starts nothing for 100+ ms): joined long before it forks
            tree.join(process.pid)
        agent = self._agents[launch.ti_id] = _Agent(launch, process, output, tree, user=user)
        agent.watcher = asyncio.create_task(self._watch(agent), name=f"agent-{launch.ti_id}")

    def _agent_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        env.update(self.extra_env)
        env.update({"LEOFLOW_AGENT_ADDRESS": self.address, "PYTHONUNBUFFERED": "1"})
        return env

    # -- the fork server -----------------------------------------------------------------------
    async def _fork(self, env: dict[str, str], output: Path, cgroup: str = "",
                    user: TryUser | None = None) -> _Forked | None:
        """An agent forked by the fork server; None to start it the plain way."""
        if not self.fork_server or self._closed:
            return None
        server = await self._running_server()
        if server is None:
            return None
        self._restart_idle_timer()
        try:
            return await server.fork(env, output, cgroup, user.drop if user else None)
        except Exception as exc:
            log.warning("the fork server could not start an agent (%s); starting it plainly",
                        exc)
            return None

    async def _running_server(self) -> _ForkServer | None:
        async with self._server_lock:
            if self._server is not None and self._server.alive:
                return self._server
            if self._server_failures >= 3:
                return None  # it keeps failing here: plain starts from now on
            self._server = None
            base = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
            base["PYTHONUNBUFFERED"] = "1"
            try:
                self.output_dir.mkdir(parents=True, exist_ok=True)
                self._server = await _ForkServer.start(
                    base, self.output_dir / f"fork-server-{os.getpid()}.err")
            except Exception:
                self._server_failures += 1
                log.exception("could not start the agents' fork server")
                return None
            return self._server

    def _restart_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = asyncio.get_running_loop().call_later(self.fork_idle,
                                                                 self._stop_idle_server)

    def _stop_idle_server(self) -> None:
        self._idle_timer = None
        server, self._server = self._server, None
        if server is not None:
            job = asyncio.create_task(server.stop(), name="leoflow-fork-server-idle")
            self._background.add(job)
            job.add_done_callback(self._background.discard)

    def _output_path(self, launch: TaskLaunch) -> Path:
        return self.output_dir / f"{launch.ti_id}.{launch.try_number}.out"

    def _fresh_output_path(self, launch: TaskLaunch) -> Path:
        """The output file of a new agent. A resumed try (deferred, rescheduled) starts a
        second agent for the same try, maybe before the first one has exited: it must not
        truncate the file the first one still writes to."""
        path = self._output_path(launch)
        resume = 0
        while path.exists():
            resume += 1
            path = self.output_dir / f"{launch.ti_id}.{launch.try_number}.r{resume}.out"
        return path

    def note_reported(self, ti_id: str) -> None:
        """The agent service calls this when the try's agent reported its state."""
        agent = self._agents.get(ti_id) or self._orphans.get(ti_id)
        if agent is not None:
            agent.reported = True

    async def _watch(self, agent: _Agent) -> None:
        code = await agent.process.wait()
        # before the try is reported over: its retry must not overlap with what it left
        await self._end_tree(agent)
        if self.task_users is not None and agent.user is not None:
            await asyncio.to_thread(self.task_users.release, agent.user)  # its folder
        replaced = self._agents.get(agent.launch.ti_id) is not agent
        if not replaced:  # not a resumed (or re-launched) try's newer agent
            del self._agents[agent.launch.ti_id]
        await self._forward_output(agent.launch, agent.output)
        if agent.reported or agent.cancelled:
            return
        if replaced and code == EXIT_REJECTED:
            # refused by the control plane's fencing: the try was launched again (a new
            # leadership term reconciled it) and belongs to the newer agent, not to this one
            return
        reason = (f"killed by signal {-code}" if code < 0 else f"exited with code {code}")
        if getattr(agent.process, "status_unknown", False):
            reason = "ended (how is unknown: its fork server had stopped)"
        await self._failed(agent.launch, f"the task's agent {reason} before reporting a result")

    async def _end_tree(self, agent: _Agent) -> None:
        """Kill every process the try left (once; ``cancel`` and ``_watch`` both wait)."""
        if agent.tree is None:
            return
        if agent.tree_ended is None:
            agent.tree_ended = asyncio.create_task(self._kill_tree(
                agent.launch, agent.tree, agent.process.pid))
        await asyncio.shield(agent.tree_ended)

    @staticmethod
    async def _kill_tree(launch: TaskLaunch, tree: TryTree, leader: int) -> None:
        started = time.monotonic()
        try:
            killed = await asyncio.to_thread(tree.end, leader)
        except Exception:
            log.exception("could not end the processes of %s", launch.ti_id)
            return
        killed.discard(leader)
        if killed:
            log.info("%s (try %d): ended %d process(es) it left running in %.0f ms",
                     launch.ti_id, launch.try_number, len(killed),
                     (time.monotonic() - started) * 1000)

    async def _failed(self, launch: TaskLaunch, error: str, *, no_retry: bool = False) -> None:
        if self._callback is not None:
            await self._callback(ExecutorEvent(launch.ti_id, launch.try_number, "failed",
                                               error=error,
                                               info={"no_retry": True} if no_retry else {}))

    async def _forward_output(self, launch: TaskLaunch, path: Path) -> None:
        """Copy what the agent printed (its last 64 KB) into the try's log; remove the file."""
        try:
            lines = await asyncio.to_thread(_tail_lines, path)
        except OSError:
            return
        with contextlib.suppress(OSError):
            path.unlink()
        if self.on_agent_output is None:
            return
        for line in lines:
            try:
                await self.on_agent_output(launch, line)
            except Exception:
                log.exception("could not store an agent line")
                return

    async def cancel(self, ti_id: str, reason: str) -> None:
        agent = self._agents.get(ti_id)
        if agent is None:
            orphan = self._orphans.pop(ti_id, None)
            if orphan is not None:
                if orphan.watcher is not None:
                    orphan.watcher.cancel()
                _kill_pid_group(orphan.launch)
                if orphan.tree is not None:
                    await self._kill_tree(orphan.launch, orphan.tree, orphan.launch.pid or 0)
            return
        agent.cancelled = reason
        await _terminate(agent.process)
        await self._end_tree(agent)  # the next try may start as soon as this returns

    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        """Adopt the tries whose agent survived a restart; report those whose agent is gone.

        A surviving agent is not our child, so its exit is seen by polling its pid: one that
        exits without having reported fails its try at once. One that hangs is failed by
        the agent service's heartbeat watchdog.
        """
        with contextlib.suppress(OSError):
            await asyncio.to_thread(sweep_empty)  # cgroups an earlier plane left
        for launch in known:
            if launch.ti_id in self._agents or launch.ti_id in self._orphans:
                continue
            if launch.pid is not None and _alive(launch.pid):
                tree = await asyncio.to_thread(TryTree.of_process, launch.pid)
                orphan = self._orphans[launch.ti_id] = _Orphan(launch, tree=tree)
                orphan.watcher = asyncio.create_task(self._watch_orphan(orphan),
                                                     name=f"orphan-{launch.ti_id}")
                continue
            # its agent died while no control plane watched: what it started may live on
            left = await asyncio.to_thread(end_leftovers, launch.ti_id, launch.try_number)
            if left:
                log.info("%s (try %d): ended %d process(es) its vanished agent left",
                         launch.ti_id, launch.try_number, len(left))
            await self._failed(launch, "the task's agent was gone after the control plane "
                                       "restarted")

    async def _watch_orphan(self, orphan: _Orphan) -> None:
        assert orphan.launch.pid is not None
        while _alive(orphan.launch.pid):
            await asyncio.sleep(ORPHAN_POLL)
        if orphan.tree is not None:
            await self._kill_tree(orphan.launch, orphan.tree, orphan.launch.pid)
        self._orphans.pop(orphan.launch.ti_id, None)
        await self._forward_output(orphan.launch, self._output_path(orphan.launch))
        if not orphan.reported:
            await self._failed(orphan.launch, "the task's agent (adopted after a control-plane "
                                              "restart) exited before reporting a result")

    async def close(self, *, keep_agents: bool = False) -> None:
        """Stop supervising; terminate every agent we started unless ``keep_agents``.

        ``keep_agents`` is for a restart: the agents keep running (their output still goes
        to their files) and the next control plane adopts them in ``reconcile``.
        """
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        agents = list(self._agents.values())
        if not keep_agents:
            for agent in agents:
                agent.cancelled = "shutdown"
            await asyncio.gather(*(_terminate(a.process) for a in agents))
            await asyncio.gather(*(self._end_tree(a) for a in agents), return_exceptions=True)
            # their watchers copy what they printed into the logs, then end
            ending = [a.watcher for a in agents if a.watcher is not None]
            if ending:
                await asyncio.wait(ending, timeout=2.0)
        watchers = [a.watcher for a in [*agents, *self._orphans.values()]
                    if a.watcher is not None and not a.watcher.done()]
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        self._agents.clear()
        self._orphans.clear()
        # after the agents: it reports their exits; stopping it leaves its children running
        async with self._server_lock:
            server, self._server = self._server, None
        if server is not None:
            await server.stop()
            if keep_agents:
                await server.forget()
        await asyncio.gather(*self._background, return_exceptions=True)


async def _terminate(process: asyncio.subprocess.Process | _Forked) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), KILL_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def _as_user(user: TryUser | None) -> dict[str, object]:
    """A plain start's arguments that make the agent run as the try's user."""
    if user is None:
        return {}
    return {"user": user.uid, "group": user.gid, "extra_groups": list(user.groups),
            "umask": 0o077, "cwd": str(user.workdir)}


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped yet, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): os.kill said it exists


def _tail_lines(path: Path) -> list[str]:
    """The non-empty lines of the last ``OUTPUT_TAIL_BYTES`` of a file."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - OUTPUT_TAIL_BYTES))
        data = handle.read()
    if size > OUTPUT_TAIL_BYTES:
        data = data.split(b"\n", 1)[-1]  # the first line is cut
    text = data.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]


def _kill_pid_group(launch: TaskLaunch) -> None:
    if launch.pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(launch.pid, signal.SIGKILL)
