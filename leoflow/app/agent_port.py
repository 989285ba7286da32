"""``leoflow-server``'s agent port, stable across restarts.

Agents are told the control plane's address when they start, and keep it. After a crash or
a restart, those still running must find the new server at that same address, or their
reports are lost and their tries run again (issue 15, item 4). So unless ``--grpc-port``
says otherwise, the server uses the port it used last time, remembered in
``LEOFLOW_HOME/agent-address`` (``host:port``, where an operator or a tool finds it too);
the first start picks a free port and writes it there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from leoflow.app.lite_state import free_port, port_is_free

log = logging.getLogger("leoflow.server")

ADDRESS_FILE = "agent-address"
WAIT_FOR_PORT = 5.0  # seconds to wait for the remembered port (a dying server holds it)


def remembered_port(home: Path) -> int | None:
    """The port in ``home/agent-address``, if it holds a valid one."""
    with contextlib.suppress(OSError, ValueError):
        text = (home / ADDRESS_FILE).read_text("utf-8").strip()
        port = int(text.rpartition(":")[2])
        if 0 < port < 65536:
            return port
    return None


def stable_agent_port(home: Path, host: str = "127.0.0.1") -> int:
    """The remembered port when it can be listened on (waiting a little for a dying
    server to let it go); else a free port, remembered from now on."""
    port = remembered_port(home)
    if port is not None:
        deadline = time.monotonic() + WAIT_FOR_PORT
        while not port_is_free(port, host):
            if time.monotonic() >= deadline:
                log.warning("the agent port %d used last time is taken by another process: "
                            "agents still running from before cannot reach this server "
                            "(their tries are retried); using a new port", port)
                port = None
                break
            time.sleep(0.2)
    if port is None:
        port = free_port(host)
    save_agent_address(home, host, port)
    return port


def save_agent_address(home: Path, host: str, port: int) -> None:
    """Write ``host:port`` to ``home/agent-address`` (owner-only, replaced atomically)."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / ADDRESS_FILE
    temporary = home / f".{ADDRESS_FILE}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{host}:{port}\n")
    os.replace(temporary, target)
