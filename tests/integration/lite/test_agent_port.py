"""leoflow-server's agent port is stable across restarts (issue 15, item 4): the port of
the last start is kept in LEOFLOW_HOME/agent-address, so that agents still running reach
the restarted server. Real sockets: a port held by another process is really held."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

from leoflow.app import agent_port
from leoflow.app.agent_port import ADDRESS_FILE, remembered_port, stable_agent_port
from leoflow.app.server import build_parser


def test_the_default_is_the_remembered_port_not_any_free_one(tmp_path: Path) -> None:
    assert build_parser().parse_args([]).grpc_port is None  # was 0: a random port each start
    first = stable_agent_port(tmp_path)
    assert (tmp_path / ADDRESS_FILE).read_text() == f"127.0.0.1:{first}\n"
    assert stat.S_IMODE((tmp_path / ADDRESS_FILE).stat().st_mode) == 0o600
    assert [stable_agent_port(tmp_path) for _ in range(3)] == [first] * 3
    assert remembered_port(tmp_path) == first


def test_a_port_taken_by_another_process_is_replaced_and_remembered(tmp_path: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.setattr(agent_port, "WAIT_FOR_PORT", 0.3)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        (tmp_path / ADDRESS_FILE).write_text(f"127.0.0.1:{taken}\n")
        chosen = stable_agent_port(tmp_path)
    assert chosen != taken
    assert remembered_port(tmp_path) == chosen
