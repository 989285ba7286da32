"""The OS side of an agent process: its environment, its user, ending it, reading its output.

Small functions the subprocess executor, its fork-server client and the adoption of agents
after a restart share. Every agent runs in its own process group (its own session), so
ending an agent means signalling its group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Protocol, TypedDict

from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.executors.isolation import TryUser

# Variables copied from the control plane's environment into an agent's: what a process
# needs to start and find binaries, nothing that could carry a secret.
# LEOFLOW_ZYGOTE(_IDLE): user processes forked from per-DAG-version zygotes unless it is 0
# (agent/zygote_client)
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT",
                  "UV_CACHE_DIR", "UV_INDEX_URL", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                  "LEOFLOW_ZYGOTE", "LEOFLOW_ZYGOTE_IDLE")
KILL_GRACE = 5.0
OUTPUT_TAIL_BYTES = 64 * 1024  # what is kept of an agent's own output (a traceback fits)
ORPHAN_POLL = 0.5  # seconds between liveness checks of an agent that is not our child


class AgentProcess(Protocol):
    """What the executor needs of an agent's process: ``asyncio.subprocess.Process`` (a
    plain start) or ``fork_client.ForkedAgent`` (forked by the fork server)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


def passed_through_env() -> dict[str, str]:
    """The part of the control plane's environment every agent (and the fork server) gets."""
    return {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}


async def terminate(process: AgentProcess) -> None:
    """SIGTERM the agent's group, SIGKILL it after ``KILL_GRACE`` seconds."""
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


class UserStart(TypedDict, total=False):
    """The keyword arguments of ``create_subprocess_exec`` that start a process as a user."""

    user: int
    group: int
    extra_groups: list[int]
    umask: int
    cwd: str


def as_user(user: TryUser | None) -> UserStart:
    """A plain start's arguments that make the agent run as the try's user."""
    if user is None:
        return {}
    return {"user": user.uid, "group": user.gid, "extra_groups": list(user.groups),
            "umask": 0o077, "cwd": str(user.workdir)}


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def kill_pid_group(launch: TaskLaunch) -> None:
    """SIGKILL the group of the agent a launch records (an adopted agent's)."""
    if launch.pid is not None:
        kill_group(launch.pid)


def alive(pid: int) -> bool:
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


def tail_lines(path: Path) -> list[str]:
    """The non-empty lines of the last ``OUTPUT_TAIL_BYTES`` of a file."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - OUTPUT_TAIL_BYTES))
        data = handle.read()
    if size > OUTPUT_TAIL_BYTES:
        data = data.split(b"\n", 1)[-1]  # the first line is cut
    text = data.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]
