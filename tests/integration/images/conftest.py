"""Helpers of the image tests: a copy of a project to compile, and the real CLI in a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "leoflow.yaml").exists())


def copy_example(name: str, target: Path) -> Path:
    """A copy of ``examples/<name>`` (compiling writes into the project, not the repo's)."""
    project = target / name
    shutil.copytree(EXAMPLES / name, project,
                    ignore=shutil.ignore_patterns(".venv", "__pycache__", ".leoflow", "dag.json"))
    return project


def leoflow(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``leoflow <args>`` in a child process, with a hermetic HOME and Docker config."""
    return subprocess.run([sys.executable, "-m", "leoflow.app.cli", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI run: its own LEOFLOW_HOME and Docker config, no DOCKER_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    env.update(LEOFLOW_HOME=str(home / ".leoflow"), DOCKER_CONFIG=str(home / ".docker"))
    return env


def default_context(env: dict[str, str], dag_id: str) -> Path:
    """Where compile writes the build context without --context: LEOFLOW_HOME/images/<id>."""
    return Path(env["LEOFLOW_HOME"]).resolve() / "images" / dag_id


def read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))
