"""Lite's IDE is an extra: ``nicegui`` is not a core dependency, so the server and agent
images go without it; ``install.sh`` installs the extra; ``leoflow-server`` and
``leoflow-agent`` run without importing the IDE or the file watcher; and ``leoflow lite``
without the extra says in one line how to install it.

``watchfiles`` stays a core dependency on purpose: ``leoflow-server --dags-folder`` watches
its folder with it (imported only then, which the server test below checks).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
IDE_ONLY = ("nicegui",)
NOT_IN_SERVER_OR_AGENT = ("nicegui", "watchfiles", "leoflow.ide")


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_ide_is_the_lite_extra_not_a_core_dependency() -> None:
    extras = PYPROJECT["optional-dependencies"]
    assert not names(PYPROJECT["dependencies"]) & set(IDE_ONLY)
    assert names(extras["lite"]) >= set(IDE_ONLY)
    assert "leoflow[lite]" in extras["dev"]  # pip install -e .[dev] keeps the IDE tests
    # the Pro server image installs the wheel with [pro]; a DAG image's agent the bare wheel
    assert not names(extras["pro"]) & set(IDE_ONLY)
    dockerfile = (ROOT / "packaging" / "controlplane.Dockerfile").read_text("utf-8")
    assert re.findall(r"leoflow-\*\.whl\)\[(\w+)\]", dockerfile) == ["pro"]
    assert "watchfiles" in names(PYPROJECT["dependencies"])  # --dags-folder watches with it


def test_install_sh_installs_the_lite_extra_in_both_modes() -> None:
    script = (ROOT / "install.sh").read_text("utf-8")
    targets = re.findall(r'^\s*target="([^"]+)"', script, re.MULTILINE)
    assert targets == ["-e $here[dev,lite]", "$here[lite]"]


SERVER_AND_AGENT = """
import asyncio, sys
from pathlib import Path

import leoflow.agent.main  # leoflow-agent's entry point
from leoflow.app.server import build_app  # leoflow-server's
from leoflow.app.settings import Settings


async def serve() -> None:
    home = Path(sys.argv[1])
    app = build_app(Settings(home=home, database_url=f"sqlite+aiosqlite:///{home}/l.db"))
    async with app.router.lifespan_context(app):
        assert app.state.plane is not None
        await asyncio.sleep(0.2)

asyncio.run(serve())
print(sorted(m for m in sys.argv[2:] if m in sys.modules))
"""


def test_the_server_and_the_agent_run_without_the_ide_or_the_watcher(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env["LEOFLOW_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", SERVER_AND_AGENT, str(tmp_path), *NOT_IN_SERVER_OR_AGENT],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


WITHOUT_NICEGUI = """
import importlib.abc, sys


class NoNicegui(importlib.abc.MetaPathFinder):
    '''As if the lite extra were not installed.'''

    def find_spec(self, name, path=None, target=None):
        if name == "nicegui" or name.startswith("nicegui."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoNicegui())
from leoflow.app.cli import main

sys.exit(main(["lite", "--no-browser", "--port", "0", "--workspace", sys.argv[1]]))
"""


@pytest.mark.slow  # a child interpreter: about a second
def test_lite_without_the_extra_says_how_to_install_it_in_one_line(tmp_path: Path) -> None:
    home, workspace = tmp_path / "home", tmp_path / "workspace"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env["LEOFLOW_HOME"] = str(home)
    done = subprocess.run([sys.executable, "-c", WITHOUT_NICEGUI, str(workspace)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "leoflow lite needs the IDE's packages (nicegui): install them with "
        "pip install 'leoflow[lite]' (./install.sh does)"]
    assert done.stdout == ""
    assert list(home.iterdir()) == [] and not workspace.exists()  # nothing was started
