"""What Linux says about processes and cgroups, read from /proc: one place for the readers.

Both the compile (``compiler/process_tree.py``) and a task try (``executors/try_tree.py``)
end a whole process tree; they find it the same way: the cgroup v2 mount, the pids a cgroup
holds, every live pid. Every reader answers "nothing" rather than raising when /proc or the
cgroup is gone (the tree may end while it is read).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted, or None when there is none."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                return Path(left.split(" ")[4])
    return None


def read_pids(procs: Path) -> set[int]:
    """The pids a cgroup's ``cgroup.procs`` lists (empty when it is gone)."""
    try:
        return {int(x) for x in procs.read_text().split()}
    except (OSError, ValueError):
        return set()


def live_pids() -> list[int]:
    """Every process id /proc lists now."""
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
