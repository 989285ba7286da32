"""The subprocess executor: one ``leoflow-agent`` process per try (Lite's executor).

Each agent runs in its own process group, with only the variables it needs (the server
address, the task instance id, a per-try token) on top of a minimal environment: never the
control plane's own secrets. Cancelling kills the group. An agent that exits without having
reported a state (killed, crashed) fails the try at once; after a control-plane restart,
agents that are still alive keep running and report to the new server, and those that are
gone are reported failed (adoption.py).

An agent's own output (its diagnostics; the task's output goes over gRPC) is written to a
file, not a pipe: an agent must survive the control plane that started it, and a pipe
would break under it (its next diagnostic would die of EPIPE) when that process exits.
The file is copied into the try's log when the agent exits, then removed.

Fork server (``fork_server=True``, the default): agents are forked from one process that
did the agent's imports once (``leoflow.agent.fork_server``, driven by fork_client.py). A
child gets its own session, its own output file, and an environment made of the same
minimal variables and the try's id and token (sent over a pipe, never put in an
environment the server had). Every try still runs in a process of its own that ran no
other try, and the user's code runs in yet another process (the DAG's interpreter). A try
is started the plain way (``python -m leoflow.agent``) whenever the fork server is
unavailable.

Tenants: ``task_users`` (isolation.py) says which OS user runs each try. On a root control
plane a tenant's agent runs as that tenant's user (the forked child drops to it once it has
joined the try's cgroup and opened its output file); a try it refuses fails at once.
Every process of a try ends with it (try_tree.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from leoflow.engine import faults
from leoflow.engine.executors.adoption import Adoption
from leoflow.engine.executors.agent_processes import (
    AgentProcess,
    as_user,
    passed_through_env,
    tail_lines,
    terminate,
)
from leoflow.engine.executors.base import EventCallback, ExecutorEvent, TaskLaunch
from leoflow.engine.executors.fork_client import FORK_IDLE, ForkedAgent, ForkServerKeeper
from leoflow.engine.executors.isolation import IsolationRefused, TaskUsers, TryUser
from leoflow.engine.executors.try_tree import TryTree
from leoflow.engine.spec.model import TaskSpec

log = logging.getLogger("leoflow.executor.subprocess")

EXIT_REJECTED = 4  # leoflow-agent's exit code when the control plane refused its token


@dataclass
class _Agent:
    launch: TaskLaunch
    process: AgentProcess
    output: Path
    tree: TryTree | None = None
    watcher: asyncio.Task[None] | None = None
    reported: bool = False
    cancelled: str | None = None
    tree_ended: asyncio.Task[None] | None = None
    user: TryUser | None = None  # the tenant's OS user it runs as (isolation.py)


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
        self._adoption = Adoption(failed=self._failed, forward_output=self._forward_output,
                                  kill_tree=self._kill_tree, output_path=self._output_path)
        self._forks = ForkServerKeeper(self.output_dir)
        self._closed = False
        self.task_users = task_users  # which OS user runs each try (isolation.py)

    def set_callback(self, callback: EventCallback) -> None:
        self._callback = callback

    def running(self) -> list[str]:
        """Task instance ids whose agent process is alive (for diagnostics and tests)."""
        return [ti_id for ti_id, a in self._agents.items() if a.process.returncode is None]

    def fork_server_pid(self) -> int | None:
        """The fork server's process id while it runs (for diagnostics and tests)."""
        return self._forks.pid()

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
        process: AgentProcess | None = await self._fork(env, output, tree.procs_file, user)
        if process is None:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                plain = await asyncio.create_subprocess_exec(
                    *self.agent_command, env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=fd, stderr=fd, start_new_session=True, **as_user(user))
            except BaseException:
                tree.discard()
                if self.task_users is not None:
                    self.task_users.release(user)
                raise
            finally:
                os.close(fd)
            # still importing (it starts nothing for 100+ ms): joined long before it forks
            tree.join(plain.pid)
            process = plain
        agent = self._agents[launch.ti_id] = _Agent(launch, process, output, tree, user=user)
        agent.watcher = asyncio.create_task(self._watch(agent), name=f"agent-{launch.ti_id}")

    def _agent_env(self) -> dict[str, str]:
        env = passed_through_env()
        env.update(self.extra_env)
        env.update({"LEOFLOW_AGENT_ADDRESS": self.address, "PYTHONUNBUFFERED": "1"})
        return env

    async def _fork(self, env: dict[str, str], output: Path, cgroup: str = "",
                    user: TryUser | None = None) -> ForkedAgent | None:
        """An agent forked by the fork server; None to start it the plain way."""
        if not self.fork_server or self._closed:
            return None
        return await self._forks.fork(env, output, cgroup, user.drop if user else None,
                                      idle=self.fork_idle)

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
        agent = self._agents.get(ti_id)
        if agent is not None:
            agent.reported = True
        else:
            self._adoption.note_reported(ti_id)

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
            lines = await asyncio.to_thread(tail_lines, path)
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
            await self._adoption.cancel(ti_id)
            return
        agent.cancelled = reason
        await terminate(agent.process)
        await self._end_tree(agent)  # the next try may start as soon as this returns

    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        """Adopt the tries whose agent survived a restart; report those whose agent is gone
        (adoption.py)."""
        await self._adoption.reconcile(known, supervised=lambda ti_id: ti_id in self._agents)

    async def close(self, *, keep_agents: bool = False) -> None:
        """Stop supervising; terminate every agent we started unless ``keep_agents``.

        ``keep_agents`` is for a restart: the agents keep running (their output still goes
        to their files) and the next control plane adopts them in ``reconcile``.
        """
        self._closed = True
        self._forks.cancel_idle_timer()
        agents = list(self._agents.values())
        if not keep_agents:
            for agent in agents:
                agent.cancelled = "shutdown"
            await asyncio.gather(*(terminate(a.process) for a in agents))
            await asyncio.gather(*(self._end_tree(a) for a in agents), return_exceptions=True)
            # their watchers copy what they printed into the logs, then end
            ending = [a.watcher for a in agents if a.watcher is not None]
            if ending:
                await asyncio.wait(ending, timeout=2.0)
        watchers = [w for w in [*(a.watcher for a in agents), *self._adoption.watchers()]
                    if w is not None and not w.done()]
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        self._agents.clear()
        self._adoption.orphans.clear()
        # after the agents: it reports their exits; stopping it leaves its children running
        await self._forks.close(keep_agents=keep_agents)
