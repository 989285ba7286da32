"""Tests run as root with their Python under /root and their folders under pytest's private
temporary root (/tmp/pytest-of-root, 0700). A tenant's task or compile user must pass
through those to reach its Python, its DAG environment and its project, as it would on a
machine set up as docs/security.md says (Python under /usr/local, a home others may pass).
``passage_for_task_users`` opens the closed folders above some paths for the group of task
users (``--x``: pass, never list) for a block, and closes them again afterwards."""

from __future__ import annotations

import contextlib
import grp
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from leoflow.engine.executors import posix_acl as acl
from leoflow.engine.executors.isolation import TASKS_GROUP


def closed_folders_above(*targets: Path) -> list[Path]:
    """The folders above ``targets`` (and this Python) that other users may not pass."""
    paths = {Path(os.path.realpath(sys.executable)), Path(os.__file__).resolve(),
             *(Path(t).resolve() for t in targets)}
    return sorted({folder for target in paths for folder in target.parents
                   if not os.stat(folder).st_mode & 0o001})


@contextlib.contextmanager
def passage_for_task_users(*targets: Path) -> Iterator[None]:
    """Task users may pass through the closed folders above ``targets`` and this Python
    during the block (root only; nothing happens otherwise)."""
    if os.geteuid() != 0:
        yield
        return
    try:
        gid = grp.getgrnam(TASKS_GROUP).gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", TASKS_GROUP], check=True)
        gid = grp.getgrnam(TASKS_GROUP).gr_gid
    opened: list[Path] = []
    for folder in closed_folders_above(*targets):
        if not acl.named_perms(folder, gid=gid) & acl.EXECUTE:
            acl.grant(folder, perms=acl.EXECUTE, gid=gid)
            opened.append(folder)
    try:
        yield
    finally:
        for folder in opened:
            acl.revoke(folder, gid=gid)
