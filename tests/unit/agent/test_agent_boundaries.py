"""The agent's arrows (DESIGN.md): agent → rpc and sdk, never the engine or the layers above."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[3] / "leoflow" / "agent"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(AGENT.rglob("*.py")), ids=lambda p: p.name)
def test_the_agent_never_imports_the_engine_app_or_ide(path):
    for name in imports_of(path):
        assert not name.startswith(("leoflow.engine", "leoflow.app", "leoflow.ide")), (
            path.name, name)
