"""Agents that outlive their control plane: adopted by the next one, or reported gone.

After a restart the scheduler hands the subprocess executor the tries the store says are
running (``reconcile``). An agent still alive is not our child, so its exit is seen by
polling its pid; one that exits without having reported fails its try at once (one that
hangs is failed by the agent service's heartbeat watchdog). An agent that died while no
control plane watched fails its try, and whatever it left running is ended first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from leoflow.engine.executors.agent_processes import ORPHAN_POLL, alive, kill_pid_group
from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.executors.try_tree import TryTree, end_leftovers, sweep_empty

log = logging.getLogger("leoflow.executor.subprocess")


@dataclass
class Orphan:
    """An agent started by an earlier control plane, alive when this one started."""

    launch: TaskLaunch
    watcher: asyncio.Task[None] | None = None
    reported: bool = False
    tree: TryTree | None = None


class Adoption:
    """The orphans one executor watches. The executor lends what ending a try takes:
    ``failed(launch, error)`` reports it, ``forward_output(launch, path)`` copies the agent's
    output into the try's log, ``kill_tree(launch, tree, leader)`` ends what the try left,
    ``output_path(launch)`` is where an agent of that try wrote."""

    def __init__(self, *, failed: Callable[[TaskLaunch, str], Awaitable[None]],
                 forward_output: Callable[[TaskLaunch, Path], Awaitable[None]],
                 kill_tree: Callable[[TaskLaunch, TryTree, int], Awaitable[None]],
                 output_path: Callable[[TaskLaunch], Path]) -> None:
        self.orphans: dict[str, Orphan] = {}
        self._failed = failed
        self._forward_output = forward_output
        self._kill_tree = kill_tree
        self._output_path = output_path

    async def reconcile(self, known: Sequence[TaskLaunch],
                        supervised: Callable[[str], bool]) -> None:
        """Adopt the tries whose agent survived a restart; report those whose agent is gone.
        ``supervised(ti_id)``: this executor started that try's agent itself."""
        with contextlib.suppress(OSError):
            await asyncio.to_thread(sweep_empty)  # cgroups an earlier plane left
        for launch in known:
            if supervised(launch.ti_id) or launch.ti_id in self.orphans:
                continue
            if launch.pid is not None and alive(launch.pid):
                tree = await asyncio.to_thread(TryTree.of_process, launch.pid)
                orphan = self.orphans[launch.ti_id] = Orphan(launch, tree=tree)
                orphan.watcher = asyncio.create_task(self._watch(orphan, launch.pid),
                                                     name=f"orphan-{launch.ti_id}")
                continue
            # its agent died while no control plane watched: what it started may live on
            left = await asyncio.to_thread(end_leftovers, launch.ti_id, launch.try_number)
            if left:
                log.info("%s (try %d): ended %d process(es) its vanished agent left",
                         launch.ti_id, launch.try_number, len(left))
            await self._failed(launch, "the task's agent was gone after the control plane "
                                       "restarted")

    async def _watch(self, orphan: Orphan, pid: int) -> None:
        while alive(pid):
            await asyncio.sleep(ORPHAN_POLL)
        if orphan.tree is not None:
            await self._kill_tree(orphan.launch, orphan.tree, pid)
        self.orphans.pop(orphan.launch.ti_id, None)
        await self._forward_output(orphan.launch, self._output_path(orphan.launch))
        if not orphan.reported:
            await self._failed(orphan.launch, "the task's agent (adopted after a control-plane "
                                              "restart) exited before reporting a result")

    def note_reported(self, ti_id: str) -> bool:
        """Mark an orphan's try reported; False if no orphan runs it."""
        orphan = self.orphans.get(ti_id)
        if orphan is None:
            return False
        orphan.reported = True
        return True

    async def cancel(self, ti_id: str) -> bool:
        """Kill an orphan's agent and its tree; False if no orphan runs that try."""
        orphan = self.orphans.pop(ti_id, None)
        if orphan is None:
            return False
        if orphan.watcher is not None:
            orphan.watcher.cancel()
        kill_pid_group(orphan.launch)
        if orphan.tree is not None:
            await self._kill_tree(orphan.launch, orphan.tree, orphan.launch.pid or 0)
        return True

    def watchers(self) -> list[asyncio.Task[None]]:
        return [o.watcher for o in self.orphans.values() if o.watcher is not None]
