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
"""

from __future__ import annotations

import asyncio
import contextlib
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


@dataclass
class _Agent:
    launch: TaskLaunch
    process: asyncio.subprocess.Process
    output: Path
    watcher: asyncio.Task[None] | None = None
    reported: bool = False
    cancelled: str | None = None


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
                 output_dir: Path | None = None) -> None:
        self.address = address
        self.output_dir = Path(output_dir) if output_dir is not None else Path(
            tempfile.gettempdir()) / f"leoflow-agents-{os.getuid()}"
        self.mint_token = mint_token
        self.agent_command = list(agent_command or [sys.executable, "-m", "leoflow.agent"])
        self.on_agent_output = on_agent_output
        self.extra_env = dict(extra_env or {})
        self._callback: EventCallback | None = None
        self._agents: dict[str, _Agent] = {}
        self._orphans: dict[str, _Orphan] = {}

    def set_callback(self, callback: EventCallback) -> None:
        self._callback = callback

    def running(self) -> list[str]:
        """Task instance ids whose agent process is alive (for diagnostics and tests)."""
        return [ti_id for ti_id, a in self._agents.items() if a.process.returncode is None]

    def pid_of(self, ti_id: str) -> int | None:
        agent = self._agents.get(ti_id)
        return agent.process.pid if agent else None

    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        token = await self.mint_token(launch)
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        env.update(self.extra_env)
        env.update({"LEOFLOW_AGENT_ADDRESS": self.address, "LEOFLOW_TI_ID": launch.ti_id,
                    "LEOFLOW_TOKEN": token, "PYTHONUNBUFFERED": "1"})
        output = self._output_path(launch)
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            process = await asyncio.create_subprocess_exec(
                *self.agent_command, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=fd, stderr=fd, start_new_session=True)
        finally:
            os.close(fd)
        agent = self._agents[launch.ti_id] = _Agent(launch, process, output)
        agent.watcher = asyncio.create_task(self._watch(agent), name=f"agent-{launch.ti_id}")

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
