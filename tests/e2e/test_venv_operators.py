"""Tasks that run in their own Python environment, through the real path: compile, control
plane (which builds the task's environment with the real uv), agent, task runner and the
function's own interpreter.

The DAGs are in ``projects/venv_operators/dag.py``. ``colorama`` is installed only in the
tasks' environment (uv takes it from its cache or the package index).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Prepared, Projects, RunResult, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "venv_operators"


@pytest.fixture
async def venv_project(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


def agent_lines(result: RunResult, task_id: str) -> list[str]:
    return result.lines(task_id, streams=("agent",))


async def test_functions_run_in_their_own_environments(
        venv_project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        first = await harness.run(venv_project, dag_id="venv_ops", timeout=300)
        second = await harness.run(venv_project, dag_id="venv_ops", timeout=120)

    assert first.state == "success", first.tasks
    assert first.states() == {"seed": "success", "venv": "success", "decorated": "success",
                              "external": "success", "branch": "success",
                              "after_yes": "success", "after_no": "skipped"}
    venv = first.xcom["venv"]
    # the classic operator: its argument came from XCom, its context value from the run
    assert venv["base"] == 42 and venv["colorama"] == "0.4.0" and venv["ds"]
    # it ran in a task environment under the control plane's home, which holds its
    # requirements and nothing of Leoflow's or of the DAG file's imports
    assert Path(venv["prefix"]).parent == e2e_home / "venvs"
    assert Path(venv["prefix"]).name.startswith("task-venv-")
    assert venv["sees_leoflow"] is False and venv["sees_airflow"] is False
    assert any(line.startswith("colorama 0.4.0 in ") for line in first.lines("venv"))
    # the decorator's function got the upstream result and the same environment
    assert first.xcom["decorated"] == {"doubled": 42, "same": True}
    external = first.xcom["external"]
    assert external == [43, str(venv_project.environment.python)]
    assert f"external python {venv_project.environment.python}" in first.lines("external")

    # the build's progress is in the log of the try that waited for it; a task of the same
    # environment after it starts without building
    built = [t for t in ("venv", "decorated", "branch")
             if any("preparing the task's virtual environment" in line
                    for line in agent_lines(first, t))]
    assert built == ["venv"], {t: agent_lines(first, t) for t in ("venv", "decorated")}
    assert any(line.startswith("environment ready: ") for line in agent_lines(first, "venv"))

    # a second run reuses the environment: nothing is built, the results are the same
    assert second.state == "success"
    assert second.xcom["venv"]["prefix"] == venv["prefix"]
    for task_id in ("venv", "decorated", "branch"):
        assert not any("preparing" in line for line in agent_lines(second, task_id))


async def test_environment_failures_fail_the_task_with_a_clear_error(
        venv_project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(venv_project, dag_id="venv_failures", timeout=120)

    assert result.state == "failed"
    assert result.states() == {"bad_requirement": "failed", "after_bad": "upstream_failed",
                               "missing_python": "failed"}
    error = result.tasks["bad_requirement"].error or ""
    assert "cannot create the task's virtual environment" in error
    assert "this is not a requirement!!" in error
    log = agent_lines(result, "bad_requirement")
    assert any("cannot create the task's virtual environment" in line for line in log)
    assert not any(line.startswith("running ") for line in log), "no agent was started"
    missing = result.tasks["missing_python"].error or ""
    assert "the interpreter '/nonexistent/leoflow-e2e/bin/python' does not exist" in missing
