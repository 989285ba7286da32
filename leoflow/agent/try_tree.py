"""The agent's side of ending a try's whole process tree (before it reports the try over).

The subprocess executor gives each agent a marker (``LEOFLOW_TRY_TREE``) and, where it can,
a cgroup v2 of its own that the agent joined before running anything (the engine's
``leoflow.engine.executors.try_tree``). When the user process has ended, whatever it started
and left running (``sleep 1000 &``, a ``setsid`` daemon) is killed here, so that nothing of
this try still runs when its state is reported and a retry may start. The executor does
the same once more after the agent exits, which covers an agent killed with SIGKILL.
Standard library only (the agent must not import the engine); no-op without a marker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

TREE_ENV = "LEOFLOW_TRY_TREE"
CGROUP_PREFIX = "leoflow-try-"
_ROUNDS = 50


def end_leftovers() -> set[int]:
    """Kill every process of this try but the agent itself; returns their pids."""
    marker = os.environ.get(TREE_ENV)
    if not marker:
        return set()
    me = os.getpid()
    procs = _own_cgroup_procs(CGROUP_PREFIX + marker)
    needle = f"{TREE_ENV}={marker}".encode()
    killed: set[int] = set()
    for _ in range(_ROUNDS):
        found = (_read_pids(procs) if procs is not None else _marked(needle)) - {me}
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= found
        time.sleep(0.005)
    return killed


def own_cgroup_procs() -> str | None:
    """The ``cgroup.procs`` of this try's cgroup when the agent is in one: where a process
    the agent did not start itself (a zygote's child) joins the try's tree."""
    marker = os.environ.get(TREE_ENV)
    if not marker:
        return None
    procs = _own_cgroup_procs(CGROUP_PREFIX + marker)
    return str(procs) if procs is not None else None


def _own_cgroup_procs(name: str) -> Path | None:
    """The ``cgroup.procs`` of this agent's try cgroup, if it is in one."""
    with contextlib.suppress(OSError):
        line = next((x for x in Path("/proc/self/cgroup").read_text().splitlines()
                     if x.startswith("0::")), "")
        if not line.rstrip().endswith("/" + name):
            return None
        for entry in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = entry.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                procs = Path(left.split(" ")[4]) / line[3:].strip().lstrip("/") / "cgroup.procs"
                return procs if procs.exists() else None
    return None


def _read_pids(procs: Path) -> set[int]:
    try:
        return {int(x) for x in procs.read_text().split()}
    except (OSError, ValueError):
        return set()


def _marked(needle: bytes) -> set[int]:
    """Live processes carrying the marker (zombies are dead already)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if needle not in Path(f"/proc/{name}/environ").read_bytes().split(b"\0"):
                    continue
                state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in (b"Z", b"X"):
                found.add(int(name))
    return found
