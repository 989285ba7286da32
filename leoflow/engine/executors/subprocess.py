"""The subprocess executor: one ``leoflow-agent`` process per try (Lite's executor).

Each agent runs in its own process group, with only the variables it needs (the server
address, the task instance id, a per-try token) on top of a minimal environment: never the
control plane's own secrets. Cancelling kills the group. An agent that exits without having
reported a state (killed, crashed) fails the try at once; after a control-plane restart,
agents that are still alive keep running and report to the new server, and those that are
gone are reported failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from leoflow.engine.executors.base import EventCallback, ExecutorEvent, TaskLaunch
from leoflow.engine.spec.model import TaskSpec

log = logging.getLogger("leoflow.executor.subprocess")

# Variables copied from the control plane's environment into an agent's: what a process
# needs to start and find binaries, nothing that could carry a secret.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT",
                  "UV_CACHE_DIR", "UV_INDEX_URL", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
KILL_GRACE = 5.0


@dataclass
class _Agent:
    launch: TaskLaunch
    process: asyncio.subprocess.Process
    watcher: asyncio.Task[None]
    reported: bool = False
    cancelled: str | None = None


class SubprocessExecutor:
    """Starts agents as child processes; ``slots`` caps how many run at once."""

    name = "subprocess"

    def __init__(self, *, address: str,
                 mint_token: Callable[[TaskLaunch], Awaitable[str]],
                 agent_command: Sequence[str] | None = None,
                 on_agent_output: Callable[[TaskLaunch, str], Awaitable[None]] | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.address = address
        self.mint_token = mint_token
        self.agent_command = list(agent_command or [sys.executable, "-m", "leoflow.agent"])
        self.on_agent_output = on_agent_output
        self.extra_env = dict(extra_env or {})
        self._callback: EventCallback | None = None
        self._agents: dict[str, _Agent] = {}
        self._orphans: dict[str, TaskLaunch] = {}

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
        process = await asyncio.create_subprocess_exec(
            *self.agent_command, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
        watcher = asyncio.create_task(self._watch(launch.ti_id), name=f"agent-{launch.ti_id}")
        self._agents[launch.ti_id] = _Agent(launch, process, watcher)

    def note_reported(self, ti_id: str) -> None:
        """The agent service calls this when the try's agent reported its state."""
        agent = self._agents.get(ti_id)
        if agent is not None:
            agent.reported = True

    async def _watch(self, ti_id: str) -> None:
        agent = self._agents[ti_id]
        assert agent.process.stdout is not None
        async for raw in agent.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self.on_agent_output is not None and line:
                try:
                    await self.on_agent_output(agent.launch, line)
                except Exception:
                    log.exception("could not store an agent line")
        code = await agent.process.wait()
        self._agents.pop(ti_id, None)
        if agent.reported or agent.cancelled or self._callback is None:
            return
        reason = (f"killed by signal {-code}" if code < 0 else f"exited with code {code}")
        await self._callback(ExecutorEvent(
            ti_id, agent.launch.try_number, "failed",
            error=f"the task's agent {reason} before reporting a result"))

    async def cancel(self, ti_id: str, reason: str) -> None:
        agent = self._agents.get(ti_id)
        if agent is None:
            orphan = self._orphans.pop(ti_id, None)
            if orphan is not None:
                _kill_pid_group(orphan)
            return
        agent.cancelled = reason
        await _terminate(agent.process)

    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        """Report tries whose agent is gone; those still alive keep reporting by themselves.

        A surviving agent is not our child any more; the agent service's heartbeat watchdog
        fails it if it stops heartbeating.
        """
        for launch in known:
            if launch.ti_id in self._agents:
                continue
            if launch.pid is not None and _alive(launch.pid):
                self._orphans[launch.ti_id] = launch
                continue
            if self._callback is not None:
                await self._callback(ExecutorEvent(
                    launch.ti_id, launch.try_number, "failed",
                    error="the task's agent was gone after the control plane restarted"))

    async def close(self) -> None:
        """Stop supervising and terminate every agent we started."""
        for agent in list(self._agents.values()):
            agent.cancelled = "shutdown"
            await _terminate(agent.process)
        for agent in list(self._agents.values()):
            agent.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await agent.watcher


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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_pid_group(launch: TaskLaunch) -> None:
    if launch.pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(launch.pid, signal.SIGKILL)
