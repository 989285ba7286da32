"""The agent in a DAG image runs user code with the image's interpreter and project."""

from __future__ import annotations

from leoflow.agent.local_paths import apply_local_paths
from leoflow.rpc import agent_pb2 as pb


def _fetched() -> pb.FetchTaskResponse:
    # paths as the control plane sees them (its machine, not the pod's)
    return pb.FetchTaskResponse(dag_id="hello", task_id="say", python="/srv/venvs/hello/bin/python",
                                project_dir="/srv/workspace/hello",
                                dag_file="/srv/home/code/hello/0123456789abcdef/dag.py")


def test_without_the_variables_the_control_planes_paths_stay() -> None:
    task = apply_local_paths(_fetched(), {})
    assert task.python == "/srv/venvs/hello/bin/python"
    assert task.project_dir == "/srv/workspace/hello"
    assert task.dag_file.endswith("0123456789abcdef/dag.py")


def test_the_images_interpreter_and_project_win() -> None:
    original = _fetched()
    task = apply_local_paths(original, {
        "LEOFLOW_TASK_PYTHON": "/opt/leoflow/dag-venv/bin/python",
        "LEOFLOW_PROJECT_DIR": "/opt/leoflow/project"})
    assert task.python == "/opt/leoflow/dag-venv/bin/python"
    assert task.project_dir == "/opt/leoflow/project"
    assert task.dag_file == "/opt/leoflow/project/dag.py"
    assert task.task_id == "say"
    assert original.python == "/srv/venvs/hello/bin/python"  # the fetched message is untouched


def test_only_the_interpreter_can_be_overridden() -> None:
    task = apply_local_paths(_fetched(), {"LEOFLOW_TASK_PYTHON": "/usr/bin/python3"})
    assert task.python == "/usr/bin/python3"
    assert task.project_dir == "/srv/workspace/hello"
