"""Where the task's code and interpreter are on *this* machine, when it is not the control plane's.

``FetchTask`` says which interpreter runs the user's code (``python``) and where the project
and its DAG file are (``project_dir``, ``dag_file``), as paths on the control plane's
machine: true for the subprocess executor, where agent and control plane share a
filesystem. In a DAG image (``leoflow compile --build``) the project and the DAG's own
environment sit at fixed places inside the image instead, and the image says so with two
variables the agent reads here:

``LEOFLOW_TASK_PYTHON``
    the interpreter that runs the user's code (the image's ``/opt/leoflow/dag-venv/bin/python``)
``LEOFLOW_PROJECT_DIR``
    the project folder (the image's ``/opt/leoflow/project``); the DAG file is looked up
    there under the name the control plane gave.

An image is built from one compiled version of the DAG, so its DAG file is the pinned one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePath

from leoflow.rpc import agent_pb2 as pb

ENV_TASK_PYTHON = "LEOFLOW_TASK_PYTHON"
ENV_PROJECT_DIR = "LEOFLOW_PROJECT_DIR"


def apply_local_paths(task: pb.FetchTaskResponse,
                      environ: Mapping[str, str] | None = None) -> pb.FetchTaskResponse:
    """``task`` with the interpreter and project paths that this machine's environment sets."""
    env = os.environ if environ is None else environ
    python = env.get(ENV_TASK_PYTHON, "").strip()
    project_dir = env.get(ENV_PROJECT_DIR, "").strip()
    if not python and not project_dir:
        return task
    local = pb.FetchTaskResponse()
    local.CopyFrom(task)
    if python:
        local.python = python
    if project_dir:
        local.project_dir = project_dir
        if task.dag_file:
            local.dag_file = str(PurePath(project_dir) / PurePath(task.dag_file).name)
    return local
