"""Per-DAG environments made with the real uv, on this machine's interpreters."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

import leoflow
from leoflow.engine.environments import (
    EnvironmentManager,
    PythonVersionNotFound,
    environment_key,
)
from leoflow.engine.environments.manager import MARKER

pytest.importorskip("uv", reason="per-DAG environments need the uv package (pip install uv)")

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def run_in(python, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, timeout=60)


def test_the_key_follows_python_dependencies_and_leoflow_version(tmp_path):
    key = environment_key("3.11", ["b==1", "a==2"], "0.1.0")
    assert key == environment_key("3.11", ["a==2", "b==1"], "0.1.0")
    assert len(key) == 12
    assert key != environment_key("3.12", ["a==2", "b==1"], "0.1.0")
    assert key != environment_key("3.11", ["a==3", "b==1"], "0.1.0")
    assert key != environment_key("3.11", ["a==2", "b==1"], "0.2.0")
    manager = EnvironmentManager(tmp_path)
    env = manager.describe("sales", "3.11", ["six"])
    assert env.path.parent == tmp_path / "venvs"
    assert env.path.name == f"env-{env.key}"  # shared by every DAG with these contents
    with pytest.raises(ValueError, match="cannot name an environment"):
        manager.describe("../escape", "3.11", [])


async def test_the_sdk_is_importable_and_the_control_plane_is_not(tmp_path):
    manager = EnvironmentManager(tmp_path)
    lines: list[str] = []
    env = await manager.ensure("plain", PYTHON, [], lines.append)
    assert manager.find("plain", PYTHON, []) == env
    assert any("environment ready" in line for line in lines)
    result = run_in(env.python, "import leoflow, json, sys; print(json.dumps("
                                "[leoflow.__version__, sys.prefix]))")
    assert result.returncode == 0, result.stderr
    version, prefix = json.loads(result.stdout)
    assert version == leoflow.__version__
    assert prefix == str(env.path)
    for package in ("sqlalchemy", "grpc", "jinja2"):
        denied = run_in(env.python, f"import {package}")
        assert denied.returncode == 1
        assert "ModuleNotFoundError" in denied.stderr


async def test_pendulum_is_importable_as_in_airflow_and_a_pinned_one_wins(tmp_path):
    """Airflow DAG files start with ``pendulum.datetime(...)`` (and its tutorials import
    requests): every DAG environment has them without a dependencies line, and a version
    the DAG pins takes precedence."""
    manager = EnvironmentManager(tmp_path)
    env = await manager.ensure("plain", PYTHON, [])
    result = run_in(env.python, "import pendulum; d = pendulum.datetime(2021, 1, 1, tz='UTC');"
                                "print(d.isoformat(), pendulum.now('UTC').year > 2020)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2021-01-01T00:00:00+00:00", "True"]
    result = run_in(env.python, "import requests, httpx, charset_normalizer;"
                                "print(requests.Session().__class__.__name__,"
                                " httpx.URL('http://a/b').path)")
    assert result.returncode == 0 and result.stdout.split() == ["Session", "/b"], result.stderr
    pinned = await manager.ensure("pinned", PYTHON, ["pendulum==3.0.0"])
    version = run_in(pinned.python, "from importlib.metadata import version; import pendulum;"
                                    "print(version('pendulum'), pendulum.__file__)")
    assert version.returncode == 0, version.stderr
    number, where = version.stdout.split()
    assert number == "3.0.0"
    assert where.startswith(str(pinned.path / "lib"))


async def test_concurrent_ensures_build_once_and_a_half_built_env_is_rebuilt(tmp_path):
    manager = EnvironmentManager(tmp_path)
    first, second = await asyncio.gather(manager.ensure("twice", PYTHON, []),
                                         manager.ensure("twice", PYTHON, []))
    assert first == second and manager.builds == 1
    (first.path / MARKER).unlink()  # as if the build had crashed before its last step
    assert manager.find("twice", PYTHON, []) is None
    again = await manager.ensure("twice", PYTHON, [])
    assert manager.builds == 2 and manager.find("twice", PYTHON, []) == again


async def test_an_absent_python_version_names_the_installed_ones(tmp_path):
    manager = EnvironmentManager(tmp_path)
    with pytest.raises(PythonVersionNotFound) as caught:
        await manager.ensure("old", "3.99", [])
    error = caught.value
    assert isinstance(error, EnvironmentError)
    assert "asks for Python 3.99, which is not installed on this machine" in str(error)
    assert any(v.startswith(PYTHON) for v in error.installed)
    assert PYTHON in str(error)
    assert not (tmp_path / "venvs" / manager.describe("old", "3.99", []).path.name).exists()


@pytest.mark.slow
async def test_two_dags_pin_two_versions_of_one_package(tmp_path):
    manager = EnvironmentManager(tmp_path)
    old, new = await asyncio.gather(manager.ensure("old_six", PYTHON, ["six==1.16.0"]),
                                    manager.ensure("new_six", PYTHON, ["six==1.17.0"]))
    assert old.path != new.path
    for env, version in ((old, "1.16.0"), (new, "1.17.0")):
        result = run_in(env.python, "import six; print(six.__version__)")
        assert result.stdout.strip() == version, result.stderr
    started = time.monotonic()
    again = await manager.ensure("old_six", PYTHON, ["six==1.16.0"])
    assert again == old
    assert time.monotonic() - started < 0.5
    assert manager.builds == 2


async def test_a_task_runs_in_its_dags_environment(tmp_path):
    from tests.integration.agent.control_plane import (
        ScriptedControlPlane,
        fetch,
        run_agent_process,
        start_server,
    )

    env = await EnvironmentManager(tmp_path / "home").ensure("isolated", PYTHON, [])
    project = tmp_path / "project"
    project.mkdir()
    (project / "dag.py").write_text(
        "import sys\n"
        "from airflow.sdk import DAG, task\n"
        "with DAG('demo') as dag:\n"
        "    @task\n"
        "    def where():\n"
        "        try:\n"
        "            import grpc  # installed beside the agent, not in the DAG's environment\n"
        "            leaked = True\n"
        "        except ModuleNotFoundError:\n"
        "            leaked = False\n"
        "        return [sys.prefix, leaked]\n"
        "    where()\n")
    servicer = ScriptedControlPlane(fetch(str(project), "where", python=str(env.python)))
    server, address = await start_server(servicer)
    try:
        run = await run_agent_process(address)
    finally:
        await server.stop(None)
    assert run.returncode == 0, run.stderr
    assert servicer.recorded.report.state == "success", servicer.recorded.report
    assert servicer.recorded.pushed["return_value"] == [str(env.path), False]
