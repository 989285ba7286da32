"""Every process a compile started, found and ended when the compile ends.

The compile child runs untrusted code: a DAG file may start a background child, or a
daemon that calls ``setsid`` and so leaves the child's session and process group. Killing
the child's process group is not enough for those. A ``CompileTree`` therefore tracks the
compile's processes two ways, and ends them all (after a successful compile as well as on a
timeout or crash):

* a **cgroup v2** (``leoflow-compile-<random>`` below this process's own cgroup) when the
  unified hierarchy is mounted and writable: the child moves itself into it before running
  any user code, nothing it starts can leave it, and ``cgroup.kill`` ends them all at once;
* always, a **/proc scan**: the child and everything it starts inherit a random marker in
  their environment (``LEOFLOW_COMPILE_TREE``); processes carrying the marker, in the
  child's session or process group, or descending from one of those, are killed, scan after
  scan until none is left. It covers hosts without a usable cgroup (non-root without a
  delegated cgroup, macOS has neither and only the process group is killed there). A
  process that both clears its environment and leaves the session before the scan escapes
  the scan: only the cgroup catches that one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from pathlib import Path

from leoflow.engine.proc_fs import cgroup2_mount, live_pids, read_pids

MARKER_ENV = "LEOFLOW_COMPILE_TREE"
CGROUP_ENV = "LEOFLOW_COMPILE_CGROUP"  # "0" turns the cgroup off (the /proc scan remains)
_SCAN_ROUNDS = 20


class CompileTree:
    """The processes of one compile (see the module docstring)."""

    def __init__(self, *, use_cgroup: bool | None = None) -> None:
        self.token = secrets.token_hex(16)
        if use_cgroup is None:
            use_cgroup = os.environ.get(CGROUP_ENV, "1") not in ("0", "false", "no")
        self.cgroup: Path | None = _make_cgroup(self.token) if use_cgroup else None
        self.killed: set[int] = set()

    @property
    def env(self) -> dict[str, str]:
        """Variables the child must be started with (the marker)."""
        return {MARKER_ENV: self.token}

    @property
    def cgroup_procs(self) -> str:
        """The file the child writes itself into (empty: no cgroup)."""
        return str(self.cgroup / "cgroup.procs") if self.cgroup else ""

    def end(self, leader: int) -> set[int]:
        """Kill every process of the compile (``leader`` is the child's pid and the id of
        its session and process group); returns the pids killed besides the leader."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader, signal.SIGKILL)
        if self.cgroup is not None:
            self._kill_cgroup(self.cgroup)
        for _ in range(_SCAN_ROUNDS):
            found = self._scan(leader)
            if not found:
                break
            for pid in found:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            self.killed |= found
            time.sleep(0.01)
        self.killed.discard(leader)
        return set(self.killed)

    def close(self) -> None:
        """Remove the cgroup (it must be empty: call ``end`` first)."""
        if self.cgroup is None:
            return
        for _ in range(50):
            try:
                self.cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # processes still exiting
                time.sleep(0.02)
        self.cgroup = None

    # -- cgroup -------------------------------------------------------------------------------
    def _kill_cgroup(self, cgroup: Path) -> None:
        kill = cgroup / "cgroup.kill"
        procs = cgroup / "cgroup.procs"
        for _ in range(100):
            pids = read_pids(procs)
            if not pids:
                return
            self.killed |= pids
            if kill.exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
            else:  # kernels before 5.14: one by one, until the group is empty
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    # -- /proc --------------------------------------------------------------------------------
    def _scan(self, leader: int) -> set[int]:
        marker = f"{MARKER_ENV}={self.token}".encode()
        me = os.getpid()
        table: dict[int, int] = {}
        chosen: set[int] = set()
        for entry in live_pids():
            if entry == me:
                continue
            stat = _stat(entry)
            if stat is None or stat[0] in "ZX":
                continue
            _state, ppid, pgrp, session = stat
            table[entry] = ppid
            if leader in (pgrp, session) or _has_marker(entry, marker):
                chosen.add(entry)
        # and whatever descends from a chosen process (a child that cleared its env)
        grew = True
        while grew:
            grew = False
            for pid, ppid in table.items():
                if pid not in chosen and ppid in chosen:
                    chosen.add(pid)
                    grew = True
        chosen.discard(me)
        return chosen


def _make_cgroup(token: str) -> Path | None:
    """A new, empty cgroup v2 below ours, or None when there is no writable one."""
    try:
        mount = cgroup2_mount()
        if mount is None:
            return None
        own = next((line.split("::", 1)[1].strip()
                    for line in Path("/proc/self/cgroup").read_text().splitlines()
                    if line.startswith("0::")), None)
        if own is None:
            return None
        path = mount / own.lstrip("/") / f"leoflow-compile-{token}"
        path.mkdir()
        if not (path / "cgroup.procs").exists():
            path.rmdir()
            return None
        return path
    except OSError:
        return None





def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """``(state, ppid, pgrp, session)`` of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return marker in environ.split(b"\0")
