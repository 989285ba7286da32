"""A DAG image's layout, laid out on this machine, runs tasks through the real agent.

No Docker engine runs here, so this test does by hand what the generated Dockerfile does,
into a local folder standing for ``/opt/leoflow``: the project copied from the build
context, the DAG's environment, the agent's environment with the context's wheel installed
offline (uv instead of pip, for speed; the agent's grpcio/protobuf/jinja2 come from this
test's environment through PYTHONPATH, as no index is reachable), and the ``ENV`` lines of
the Dockerfile, with ``/opt/leoflow`` pointing at that folder. The pod then starts from the
Dockerfile's entrypoint (``leoflow-agent`` found on the image's PATH) under the Kubernetes
executor, with the in-test Kubernetes stand-in and its local kubelet (no API server can
run here either). The control plane knows only the original project, from which the
task's helper module is removed: the task can find it only in the image's copy.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leoflow.app.controlplane import start_control_plane
from leoflow.app.settings import Settings
from tests.e2e.harness import Harness, Projects
from tests.integration.executors.k8s_api_standin import KubernetesStandIn, LocalKubelet
from tests.integration.executors.k8s_fixtures import REAL_CONTEXT

from .conftest import leoflow

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    REAL_CONTEXT is not None, reason="runs the image's layout on this machine, not a cluster")]

DAG = '''
from leoflow import DAG, BashOperator, task

with DAG("in_image", schedule=None):
    @task
    def where():
        import os
        import sys

        import helpers  # only in the image's copy of the project
        print("running with", sys.executable)
        return {"python": sys.executable, "helpers": helpers.__file__, "cwd": os.getcwd(),
                "value": helpers.VALUE}

    show = BashOperator(task_id="show", bash_command="echo VENV=$VIRTUAL_ENV; command -v python")
    where() >> show
'''


def image_env(dockerfile: str, root: Path) -> dict[str, str]:
    """The variables of the Dockerfile's last ``ENV`` instruction, /opt/leoflow -> root."""
    block = dockerfile[dockerfile.rindex("\nENV ") + 5:]
    body = block.split("\nWORKDIR")[0].replace("\\\n", " ")
    env = dict(item.split("=", 1) for item in body.split())
    env["PATH"] = env["PATH"].replace("$PATH", os.environ.get("PATH", os.defpath))
    return {k: v.replace("/opt/leoflow", str(root)) for k, v in env.items()}


def lay_out_image(context: Path, root: Path) -> None:
    """What the Dockerfile's RUN and COPY lines make, into ``root``."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    shutil.copytree(context / "project", root / "project")
    for venv in ("dag-venv", "agent-venv"):
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(root / venv)],
                       check=True, timeout=120)
    wheel = next((context / "wheels").glob("leoflow-*.whl"))
    subprocess.run([uv, "pip", "install", "--quiet", "--offline", "--no-deps", "--python",
                    str(root / "agent-venv" / "bin" / "python"), str(wheel)],
                   check=True, timeout=120)


class ImageKubelet(LocalKubelet):
    """The stand-in's kubelet, starting pods with the image's environment as well."""

    def __init__(self, standin: KubernetesStandIn, *, command: list[str],
                 image: dict[str, str]) -> None:
        super().__init__(standin, command=command, passed=("HOME", "LANG", "TMPDIR"))
        self.image = image

    def _env(self, obj: dict[str, Any]) -> dict[str, str]:
        return {**self.image, **super()._env(obj)}


@pytest.fixture
async def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[KubernetesStandIn]:
    server = KubernetesStandIn()
    await server.start()
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig",
                                                                 "leoflow-e2e")))
    try:
        yield server
    finally:
        await server.stop()


async def test_a_dag_runs_in_its_image_layout(tmp_path: Path,
                                              standin: KubernetesStandIn) -> None:
    project = tmp_path / "in_image"
    project.mkdir()
    (project / "dag.py").write_text(DAG)
    (project / "helpers.py").write_text("VALUE = 42\n")
    (project / "leoflow.yaml").write_text(
        f'dag_id: in_image\npython_version: "{sys.version_info.major}.'
        f'{sys.version_info.minor}"\nimage: registry.example/in-image:1\n')
    context = tmp_path / "ctx"
    done = await asyncio.to_thread(leoflow, "compile", str(project), "--context", str(context))
    assert done.returncode == 0, done.stderr
    root = tmp_path / "opt-leoflow"
    await asyncio.to_thread(lay_out_image, context, root)
    (project / "helpers.py").unlink()

    dockerfile = (context / "Dockerfile").read_text()
    env = image_env(dockerfile, root)
    assert env["LEOFLOW_TASK_PYTHON"] == str(root / "dag-venv" / "bin" / "python")
    # the agent's own packages: from this environment, as no package index is reachable
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"] + os.pathsep + sysconfig.get_paths()[
        "platlib"]
    entrypoint = re.search(r'ENTRYPOINT \["([^"]+)"\]', dockerfile)
    assert entrypoint is not None
    command = shutil.which(entrypoint.group(1), path=env["PATH"])
    assert command == str(root / "agent-venv" / "bin" / "leoflow-agent")
    kubelet = ImageKubelet(standin, command=[command], image=env)

    home = tmp_path / "home"
    prepared = await Projects(home).prepare(project)
    settings = Settings(home=home, database_url=f"sqlite+aiosqlite:///{tmp_path / 'db'}",
                        executor="kubernetes", k8s_pod_gc_delay=1)
    events: list[Any] = []
    changed: list[asyncio.Event] = []

    def listen(kind: str, data: dict[str, Any]) -> None:
        events.append((time.monotonic(), kind, dict(data)))
        for signal in changed:
            signal.set()

    plane = await start_control_plane(settings, listeners=[listen])
    try:
        result = await Harness(plane, events, changed).run(prepared, timeout=90)
    finally:
        await plane.stop()
        await kubelet.stop()
    assert result.state == "success", (result.tasks, result.lines("where"))
    found = result.xcom["where"]
    assert found == {"python": str(root / "dag-venv" / "bin" / "python"),
                     "helpers": str(root / "project" / "helpers.py"),
                     "cwd": str(root / "project"), "value": 42}
    # a bash task sees the DAG's environment first on PATH, as if activated
    assert f"VENV={root / 'dag-venv'}" in result.lines("show")
    assert str(root / "dag-venv" / "bin" / "python") in result.lines("show")
