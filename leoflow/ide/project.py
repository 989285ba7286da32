"""Which DAG project a workspace file belongs to, and that project's DAG id."""

from __future__ import annotations

from pathlib import Path

from leoflow.engine.compiler.compile import DAG_FILE, load_project_config
from leoflow.engine.spec.project import PROJECT_FILE
from leoflow.errors import LeoflowError


def find_project(path: Path, workspace: Path) -> Path | None:
    """The nearest folder at or above ``path`` (and inside ``workspace``) holding a
    leoflow.yaml or a dag.py; None when there is none."""
    root = Path(workspace).resolve()
    current = Path(path).resolve()
    if current.is_file() or not current.exists():
        current = current.parent
    while current == root or current.is_relative_to(root):
        if (current / PROJECT_FILE).is_file() or (current / DAG_FILE).is_file():
            return current
        if current == root:
            break
        current = current.parent
    return None


def project_dag_id(project_dir: Path) -> str | None:
    """The dag_id in the project's leoflow.yaml (None when it is missing or broken)."""
    try:
        return load_project_config(project_dir).dag_id
    except LeoflowError:
        return None


def dag_file(workspace: Path, fileloc: str | None) -> Path | None:
    """The DAG file a DAG was registered from: ``fileloc`` is absolute, or relative to the
    workspace (the hot reloader registers ``examples/hello/dag.py``)."""
    if not fileloc:
        return None
    path = Path(fileloc)
    return path if path.is_absolute() else Path(workspace) / path
