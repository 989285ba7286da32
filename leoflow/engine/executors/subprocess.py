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

Warm agents: an agent spends most of its start-up importing (gRPC, protobuf, Jinja, the
SDK: ~130 ms of a ~250 ms task on 2 cores). So that this cost is not on the path from one
task to the next, the executor keeps ``warm_agents`` agent processes started ahead, their
imports done, each waiting on its stdin for the one try it will run (its task instance id
and token arrive there, never in an environment a warm process had before). Every try
still runs in a process of its own that ran nothing else; a warm agent is used once. The
pool is refilled in the background after each start and emptied after ``warm_idle``
seconds without a start, so an idle control plane keeps no spare processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from leoflow.engine.executors.base import EventCallback, ExecutorEvent, TaskLaunch
from leoflow.engine.spec.model import TaskSpec

log = logging.getLogger("leoflow.executor.subprocess")

# Variables copied from the control plane's environment into an agent's: what a process
# needs to start and find binaries, nothing that could carry a secret.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT",
                  "UV_CACHE_DIR", "UV_INDEX_URL", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
KILL_GRACE = 5.0
OUTPUT_TAIL_BYTES = 64 * 1024  # what is kept of an agent's own output (a traceback fits)
ORPHAN_POLL = 0.5  # seconds between liveness checks of an agent adopted after a restart
WARM_AGENTS = 2  # agents started ahead; enough for a chain, refilled while a task runs
WARM_IDLE = 60.0  # seconds without a start after which the warm agents are stopped

# A warm agent: the agent's imports first, then the try it runs, read from stdin as JSON
# (its LEOFLOW_TI_ID and LEOFLOW_TOKEN); end of input without a line means "not needed".
WARM_BOOTSTRAP = """\
import json, os, sys
import leoflow.agent.agent, leoflow.agent.main
line = sys.stdin.readline()
if not line.strip():
    sys.exit(0)
os.environ.update(json.loads(line))
sys.stdin.close()
sys.exit(leoflow.agent.main.main([]))
"""


@dataclass
class _Agent:
    launch: TaskLaunch
    process: asyncio.subprocess.Process
    output: Path
    watcher: asyncio.Task[None] | None = None
    reported: bool = False
    cancelled: str | None = None


@dataclass
class _Warm:
    """An agent process started ahead, waiting for its try."""

    process: asyncio.subprocess.Process
    output: Path


@dataclass
class _Orphan:
    """An agent started by an earlier control plane, alive when this one started."""

    launch: TaskLaunch
    watcher: asyncio.Task[None] | None = None
    reported: bool = False


class SubprocessExecutor:
    """Starts agents as child processes; ``slots`` caps how many run at once."""

    name = "subprocess"

    def __init__(self, *, address: str,
                 mint_token: Callable[[TaskLaunch], Awaitable[str]],
                 agent_command: Sequence[str] | None = None,
                 on_agent_output: Callable[[TaskLaunch, str], Awaitable[None]] | None = None,
                 extra_env: dict[str, str] | None = None,
                 output_dir: Path | None = None, warm_agents: int = WARM_AGENTS,
                 warm_idle: float = WARM_IDLE) -> None:
        self.address = address
        self.output_dir = Path(output_dir) if output_dir is not None else Path(
            tempfile.gettempdir()) / f"leoflow-agents-{os.getuid()}"
        self.mint_token = mint_token
        self.agent_command = list(agent_command or [sys.executable, "-m", "leoflow.agent"])
        self.on_agent_output = on_agent_output
        self.extra_env = dict(extra_env or {})
        # a custom agent command cannot be started ahead (it reads its try from its env)
        self.warm_agents = max(0, warm_agents) if agent_command is None else 0
        self.warm_idle = warm_idle
        self._callback: EventCallback | None = None
        self._agents: dict[str, _Agent] = {}
        self._orphans: dict[str, _Orphan] = {}
        self._warm: collections.deque[_Warm] = collections.deque()
        self._warming = 0
        self._warm_names = itertools.count()
        self._background: set[asyncio.Task[None]] = set()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closed = False

    def set_callback(self, callback: EventCallback) -> None:
        self._callback = callback

    def running(self) -> list[str]:
        """Task instance ids whose agent process is alive (for diagnostics and tests)."""
        return [ti_id for ti_id, a in self._agents.items() if a.process.returncode is None]

    def warm_pids(self) -> list[int]:
        """Process ids of the warm agents waiting for a try (for diagnostics and tests)."""
        return [w.process.pid for w in self._warm if w.process.returncode is None]

    def pid_of(self, ti_id: str) -> int | None:
        agent = self._agents.get(ti_id)
        return agent.process.pid if agent else None

    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        token = await self.mint_token(launch)
        output = self._output_path(launch)
        try_env = {"LEOFLOW_TI_ID": launch.ti_id, "LEOFLOW_TOKEN": token}
        process = await self._hand_to_warm(try_env, output)
        if process is None:
            process = await self._spawn(self.agent_command, {**self._agent_env(), **try_env},
                                        output, stdin=asyncio.subprocess.DEVNULL)
        agent = self._agents[launch.ti_id] = _Agent(launch, process, output)
        agent.watcher = asyncio.create_task(self._watch(agent), name=f"agent-{launch.ti_id}")
        self._refill()

    def _agent_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        env.update(self.extra_env)
        env.update({"LEOFLOW_AGENT_ADDRESS": self.address, "PYTHONUNBUFFERED": "1"})
        return env

    async def _spawn(self, command: Sequence[str], env: dict[str, str], output: Path, *,
                     stdin: int) -> asyncio.subprocess.Process:
        """Start an agent in its own session, its output going to ``output``."""
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            return await asyncio.create_subprocess_exec(
                *command, env=env, stdin=stdin, stdout=fd, stderr=fd, start_new_session=True)
        finally:
            os.close(fd)

    # -- warm agents ---------------------------------------------------------------------------
    async def _hand_to_warm(self, try_env: dict[str, str], output: Path
                            ) -> asyncio.subprocess.Process | None:
        """Give the try to a warm agent; None when there is none (or it died meanwhile)."""
        while self._warm:
            warm = self._warm.popleft()
            process = warm.process
            if process.returncode is not None or process.stdin is None:
                _discard(warm.output)
                continue
            try:
                os.replace(warm.output, output)
                process.stdin.write(json.dumps(try_env).encode() + b"\n")
                await process.stdin.drain()
                process.stdin.close()
            except (OSError, ConnectionError) as exc:
                log.warning("a warm agent could not take a try (%s); starting another", exc)
                _kill_group(process.pid)
                _discard(warm.output)
                _discard(output)
                continue
            return process
        return None

    def _refill(self) -> None:
        """Start warm agents in the background up to ``warm_agents``; restart the idle timer."""
        if self.warm_agents == 0 or self._closed:
            return
        loop = asyncio.get_running_loop()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = loop.call_later(self.warm_idle, self._stop_idle_warm)
        while len(self._warm) + self._warming < self.warm_agents:
            self._warming += 1
            job = asyncio.create_task(self._start_warm(), name="leoflow-warm-agent")
            self._background.add(job)
            job.add_done_callback(self._background.discard)

    async def _start_warm(self) -> None:
        output = self.output_dir / f"warm-{os.getpid()}-{next(self._warm_names)}.out"
        try:
            process = await self._spawn([sys.executable, "-c", WARM_BOOTSTRAP],
                                        self._agent_env(), output,
                                        stdin=asyncio.subprocess.PIPE)
        except Exception:
            log.exception("could not start a warm agent (tries start cold meanwhile)")
            return
        finally:
            self._warming -= 1
        if self._closed:
            await _end_warm(_Warm(process, output))
            return
        self._warm.append(_Warm(process, output))

    def _stop_idle_warm(self) -> None:
        self._idle_timer = None
        warm, self._warm = list(self._warm), collections.deque()
        if warm:
            job = asyncio.create_task(_end_all_warm(warm), name="leoflow-warm-idle")
            self._background.add(job)
            job.add_done_callback(self._background.discard)

    def _output_path(self, launch: TaskLaunch) -> Path:
        return self.output_dir / f"{launch.ti_id}.{launch.try_number}.out"

    def note_reported(self, ti_id: str) -> None:
        """The agent service calls this when the try's agent reported its state."""
        agent = self._agents.get(ti_id) or self._orphans.get(ti_id)
        if agent is not None:
            agent.reported = True

    async def _watch(self, agent: _Agent) -> None:
        code = await agent.process.wait()
        self._agents.pop(agent.launch.ti_id, None)
        await self._forward_output(agent.launch, agent.output)
        if agent.reported or agent.cancelled:
            return
        reason = (f"killed by signal {-code}" if code < 0 else f"exited with code {code}")
        await self._failed(agent.launch, f"the task's agent {reason} before reporting a result")

    async def _failed(self, launch: TaskLaunch, error: str) -> None:
        if self._callback is not None:
            await self._callback(ExecutorEvent(launch.ti_id, launch.try_number, "failed",
                                               error=error))

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
            return
        agent.cancelled = reason
        await _terminate(agent.process)

    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        """Adopt the tries whose agent survived a restart; report those whose agent is gone.

        A surviving agent is not our child, so its exit is seen by polling its pid: one that
        exits without having reported fails its try at once. One that hangs is failed by
        the agent service's heartbeat watchdog.
        """
        for launch in known:
            if launch.ti_id in self._agents or launch.ti_id in self._orphans:
                continue
            if launch.pid is not None and _alive(launch.pid):
                orphan = self._orphans[launch.ti_id] = _Orphan(launch)
                orphan.watcher = asyncio.create_task(self._watch_orphan(orphan),
                                                     name=f"orphan-{launch.ti_id}")
                continue
            await self._failed(launch, "the task's agent was gone after the control plane "
                                       "restarted")

    async def _watch_orphan(self, orphan: _Orphan) -> None:
        assert orphan.launch.pid is not None
        while _alive(orphan.launch.pid):
            await asyncio.sleep(ORPHAN_POLL)
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
        # warm agents being started end themselves once started (self._closed)
        await asyncio.gather(*self._background, return_exceptions=True)
        warm, self._warm = list(self._warm), collections.deque()
        await _end_all_warm(warm)
        agents = list(self._agents.values())
        if not keep_agents:
            for agent in agents:
                agent.cancelled = "shutdown"
            await asyncio.gather(*(_terminate(a.process) for a in agents))
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


async def _terminate(process: asyncio.subprocess.Process) -> None:
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


async def _end_warm(warm: _Warm) -> None:
    """A warm agent that will not be used: end of input makes it exit; kill it if slow."""
    process = warm.process
    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), 2.0)
    except TimeoutError:
        _kill_group(process.pid)
        await process.wait()
    _discard(warm.output)


async def _end_all_warm(warm: list[_Warm]) -> None:
    await asyncio.gather(*(_end_warm(w) for w in warm), return_exceptions=True)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


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
