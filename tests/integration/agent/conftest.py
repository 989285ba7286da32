"""Fixtures: a project folder with a DAG file, and the scripted control plane on 127.0.0.1."""

from __future__ import annotations

import tempfile
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.agent.control_plane import ScriptedControlPlane, start_server
from tests.integration.agent.zygotes import end_zygotes


@pytest.fixture
def project(tmp_path) -> Callable[[str], Path]:
    def write(source: str) -> Path:
        folder = tmp_path / "project"
        folder.mkdir(exist_ok=True)
        (folder / "dag.py").write_text(textwrap.dedent(source), "utf-8")
        return folder

    return write


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[ScriptedControlPlane], object]]:
    """``address = await serve(servicer)``; every server is stopped at the end."""
    servers = []

    async def start(servicer: ScriptedControlPlane) -> str:
        server, address = await start_server(servicer)
        servers.append(server)
        return address

    yield start
    for server in servers:
        await server.stop(grace=None)


@pytest.fixture
def zygote_env() -> Iterator[dict[str, str]]:
    """Agents with zygotes on, in a temporary folder of their own (short: a socket's path);
    the zygotes started there are ended afterwards."""
    with tempfile.TemporaryDirectory(prefix="lz-") as tmp:
        yield {"LEOFLOW_ZYGOTE": "1", "LEOFLOW_ZYGOTE_IDLE": "12", "TMPDIR": tmp}
        end_zygotes(Path(tmp))
