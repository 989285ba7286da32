"""Helpers of the zygote tests: find a DAG version's zygote processes and their children
through /proc (real processes; nothing is simulated)."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def listeners(sock: Path) -> set[int]:
    """Pids of the zygote processes started for this socket (their command line names it)."""
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(sock).encode() in cmdline and b"leoflow.sdk.zygote" in cmdline:
                found.add(int(name))
    return found


def end_zygotes(folder: Path) -> None:
    """SIGKILL the zygotes whose sockets are under ``folder`` (a test's TMPDIR)."""
    for sock in folder.glob("leoflow-zygotes-*/*.sock"):
        for pid in listeners(sock):
            os.kill(pid, signal.SIGKILL)


def children(parent: int) -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.add(int(name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False
