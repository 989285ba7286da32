"""Every process of one try, found and ended when the try ends (its agent exits or is killed).

A try is an agent process (in its own session, started by the subprocess executor) and the
user process the agent starts (in a session of its own, killed with the agent through
PR_SET_PDEATHSIG). What the user process starts in turn (``sleep 1000 &``, a pool of
workers, a daemon that calls ``setsid``) has no such tie: when the agent is killed with
SIGKILL nothing on the agent's side can end it, and it would keep working beside the retry.
So the executor, which started the agent, ends the whole tree itself when the agent exits,
before it reports the try over (so a retry never overlaps with leftovers):

* a **cgroup v2** per agent (``leoflow-try-<ti_id>.<try>.<random>`` below the control
  plane's own cgroup) when the unified hierarchy is mounted and writable (root, or a
  delegated cgroup): the agent joins it before it runs anything, nothing it or the task
  starts can leave it (``setsid`` does not), and ``cgroup.kill`` ends them all at once;
* without one, the agent's process group and session, and a **/proc scan** for a marker
  every process of the try inherits in its environment (``LEOFLOW_TRY_TREE``, which the
  agent passes on to the user process with Airflow's ``AIRFLOW_CTX_*`` variables). A process
  that both clears its environment and leaves its session escapes the scan: only the cgroup
  catches that one (docs/security.md, "Process trees and full disks").

The marker and the cgroup's name start with the try's identity, so a control plane that
restarts finds them again: it adopts a live agent's tree from ``/proc/<pid>``, and ends the
leftovers of an agent that died while no control plane was watching.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from leoflow.engine.proc_fs import cgroup2_mount, live_pids, read_pids

log = logging.getLogger("leoflow.executor.tree")

TREE_ENV = "LEOFLOW_TRY_TREE"  # the marker every process of a try inherits
CGROUP_ENV = "LEOFLOW_TRY_CGROUP"  # "0" turns the per-try cgroup off (the /proc scan remains)
CGROUP_PREFIX = "leoflow-try-"
_ROUNDS = 50  # kill rounds before giving up (a process in D state cannot die at once)
_PAUSE = 0.01


@dataclass
class TryTree:
    """The processes of one agent's try: its marker and, where possible, its cgroup."""

    marker: str
    cgroup: Path | None = None
    killed: set[int] = field(default_factory=set)

    @classmethod
    def create(cls, ti_id: str, try_number: int, *, use_cgroup: bool | None = None
               ) -> TryTree:
        """A fresh tree for an agent about to start (its cgroup made, still empty)."""
        marker = f"{ti_id}.{try_number}.{secrets.token_hex(6)}"
        if use_cgroup is None:
            use_cgroup = cgroups_enabled()
        return cls(marker, _make_cgroup(CGROUP_PREFIX + marker) if use_cgroup else None)

    @classmethod
    def of_process(cls, pid: int) -> TryTree | None:
        """The tree of a running agent this control plane did not start (after a restart),
        read from ``/proc/<pid>``; None when it carries no marker (an older agent)."""
        marker = _environ(pid).get(TREE_ENV)
        if not marker:
            return None
        return cls(marker, _cgroup_of(pid, CGROUP_PREFIX + marker))

    @property
    def env(self) -> dict[str, str]:
        """What the agent must be started with."""
        return {TREE_ENV: self.marker}

    @property
    def procs_file(self) -> str:
        """The file an agent writes itself into before it does anything ("" without one)."""
        return str(self.cgroup / "cgroup.procs") if self.cgroup is not None else ""

    def join(self, pid: int) -> None:
        """Move a started agent into the cgroup (plain starts: the fork server's children
        join by themselves, before running any code)."""
        if self.cgroup is None:
            return
        try:
            (self.cgroup / "cgroup.procs").write_text(str(pid))
        except OSError as exc:  # it has exited already, or the cgroup went away
            log.debug("could not move agent %s into %s: %s", pid, self.cgroup, exc)

    def end(self, leader: int | None) -> set[int]:
        """Kill every process of the try (``leader``: the agent's pid, the id of its session
        and group, or None when unknown) and wait until they are gone; returns their pids.

        Blocking (a few milliseconds; call it on a thread)."""
        if self.cgroup is not None and (self.cgroup / "cgroup.procs").exists():
            self._kill_cgroup(self.cgroup)
            self._remove_cgroup()
            return set(self.killed)
        if leader is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(leader, signal.SIGKILL)
        marker = f"{TREE_ENV}={self.marker}".encode()
        for _ in range(_ROUNDS):
            found = _scan(lambda env: marker in env, leader)
            if not found:
                break
            _kill_all(found)
            self.killed |= found
            time.sleep(_PAUSE)
        return set(self.killed)

    def discard(self) -> None:
        """Remove an unused cgroup (the agent could not be started)."""
        self._remove_cgroup()

    def _kill_cgroup(self, cgroup: Path) -> None:
        kill, procs = cgroup / "cgroup.kill", cgroup / "cgroup.procs"
        for _ in range(_ROUNDS * 4):
            pids = read_pids(procs)
            if not pids:
                return
            self.killed |= pids
            if kill.exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
            else:  # kernels before 5.14: one by one until the group is empty
                _kill_all(pids)
            time.sleep(_PAUSE)
        log.warning("processes of %s did not die: %s", cgroup, sorted(read_pids(procs)))

    def _remove_cgroup(self) -> None:
        if self.cgroup is None:
            return
        for _ in range(_ROUNDS):
            try:
                self.cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # its last processes are still exiting
                time.sleep(_PAUSE)
        self.cgroup = None


def end_leftovers(ti_id: str, try_number: int) -> set[int]:
    """After a restart, for a try whose agent is gone: kill what its tree left running
    (every cgroup and marked process of that try) and return their pids."""
    prefix = f"{ti_id}.{try_number}."
    killed: set[int] = set()
    base = _own_cgroup_dir()
    if base is not None:
        with contextlib.suppress(OSError):
            for entry in base.iterdir():
                if entry.name.startswith(CGROUP_PREFIX + prefix) and entry.is_dir():
                    tree = TryTree(entry.name[len(CGROUP_PREFIX):], entry)
                    killed |= tree.end(None)
    marker = f"{TREE_ENV}={prefix}".encode()
    for _ in range(_ROUNDS):
        found = _scan(lambda env: any(item.startswith(marker) for item in env), None)
        if not found:
            break
        _kill_all(found)
        killed |= found
        time.sleep(_PAUSE)
    return killed


def sweep_empty(min_age: float = 60.0) -> int:
    """Remove empty try cgroups older than ``min_age`` seconds (left by a control plane that
    stopped without watching its agents end); returns how many. Run at start-up."""
    base = _own_cgroup_dir()
    removed = 0
    if base is None:
        return removed
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            if not entry.name.startswith(CGROUP_PREFIX) or not entry.is_dir():
                continue
            with contextlib.suppress(OSError):
                if time.time() - entry.stat().st_mtime < min_age \
                        or read_pids(entry / "cgroup.procs"):
                    continue
                entry.rmdir()
                removed += 1
    return removed


def cgroups_enabled() -> bool:
    return os.environ.get(CGROUP_ENV, "1").lower() not in ("0", "false", "no")


def cgroup_available() -> bool:
    """Whether per-try cgroups can be made here (for the docs and tests)."""
    probe = _make_cgroup(f"{CGROUP_PREFIX}probe-{secrets.token_hex(4)}")
    if probe is None:
        return False
    with contextlib.suppress(OSError):
        probe.rmdir()
    return True


# -- cgroup v2 ----------------------------------------------------------------------------------
def _make_cgroup(name: str) -> Path | None:
    """A new, empty cgroup below ours, or None when there is no writable cgroup v2."""
    base = _own_cgroup_dir()
    if base is None:
        return None
    path = base / name
    try:
        path.mkdir()
    except OSError:
        return None
    if not (path / "cgroup.procs").exists():
        with contextlib.suppress(OSError):
            path.rmdir()
        return None
    return path


def _own_cgroup_dir() -> Path | None:
    mount = cgroup2_mount()
    if mount is None:
        return None
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return mount / line[3:].strip().lstrip("/")
    return None


def _cgroup_of(pid: int, name: str) -> Path | None:
    """The cgroup ``name`` that process ``pid`` is in, if it is in one of that name."""
    mount = cgroup2_mount()
    if mount is None:
        return None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            if line.startswith("0::") and line.rstrip().endswith("/" + name):
                return mount / line[3:].strip().lstrip("/")
    return None




# -- /proc --------------------------------------------------------------------------------------
def _scan(matches: Callable[[list[bytes]], bool], leader: int | None) -> set[int]:
    """Live processes whose environment (its ``NAME=value`` items) ``matches``, or whose
    session or process group is ``leader``'s."""
    me = os.getpid()
    found: set[int] = set()
    try:
        pids = live_pids()
    except OSError:
        return found
    for pid in pids:
        if pid == me:
            continue
        stat = _stat(pid)
        if stat is None or stat[0] in "ZX":
            continue
        if leader is not None and leader in (stat[1], stat[2]):
            found.add(pid)
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if matches(environ.split(b"\0")):
            found.add(pid)
    return found


def _stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, pgrp, session)`` of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return fields[0].decode(), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
