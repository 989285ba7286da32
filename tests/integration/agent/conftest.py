"""Fixtures: a project folder with a DAG file, and the scripted control plane on 127.0.0.1."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.integration.agent.control_plane import ScriptedControlPlane, start_server


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
