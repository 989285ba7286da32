"""Dropping to the task user before the agent runs (docs/security.md, "What isolates
tenants").

A root control plane runs each tenant's tries as an OS user of that tenant
(``leoflow.engine.executors.isolation``). The agent is switched too, not only the user's
process: the agent renders the task's Jinja templates and reads its template files, both the
tenant's input, so it must not be able to read more than the task can. The fork server
(``leoflow.agent.fork_server``) calls ``drop`` in each forked child after it has
joined the try's cgroup and opened its output file (both need the control plane's user),
and before any of the agent's code runs. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


class PrivilegeDropFailed(RuntimeError):
    """The process still holds its former user's rights after the switch."""


def drop(spec: Mapping[str, Any] | None) -> None:
    """Become ``spec["uid"]``/``spec["gid"]`` with ``spec["groups"]`` for good, private
    umask (0077), working directory ``spec["cwd"]``. No ``spec``: nothing changes."""
    if not spec:
        return
    uid, gid = int(spec["uid"]), int(spec["gid"])
    os.setgroups([int(g) for g in spec.get("groups") or [gid]])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise PrivilegeDropFailed(f"still uid {os.getresuid()} gid {os.getresgid()}")
    if uid != 0:
        try:
            os.setuid(0)
        except PermissionError:
            pass
        else:
            raise PrivilegeDropFailed("could become root again after dropping privileges")
    os.umask(0o077)
    os.chdir(str(spec["cwd"]))
