"""Folders with a ``dag.py`` but no ``leoflow.yaml``: Lite compiles projects (folders with
``leoflow.yaml``); a ``dag.py`` outside any project is only read as part of the workspace's
plain folder (its shared requirements and this Python), not as a project of its own. The
DAGs page names such folders and offers to create the file from the template ``leoflow
init`` writes.

A plain Airflow DAGs folder (DAG files of its own at the workspace's top) is another layout
Lite reads as it is: nothing is hinted there. A ``dag.py`` in a subfolder does not make the
workspace one (though the plain-folder compile reads it): that is the case hinted about.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from leoflow.engine.compiler.folder import dag_files
from leoflow.engine.reload.projects import IGNORED_DIRS, PROJECT_FILE, find_projects
from leoflow.engine.safe_files import write_file

DAG_FILE = "dag.py"
MAX_DEPTH = 3
# The template of ``leoflow init`` (leoflow/app/templates/leoflow.yaml.tmpl); the IDE does
# not import the app that owns it.
TEMPLATE = """\
# Settings of this DAG project. See docs/leoflow-yaml.md for every field.
dag_id: {dag_id}
python_version: "{python_version}"
# pip requirement strings, installed into this DAG's own environment:
dependencies: []
"""


def airflow_folder(root: Path) -> bool:
    """DAG files at the workspace's own top level, outside projects: a plain Airflow DAGs
    folder, whose subfolders are its own business."""
    top = Path(root).resolve()
    return any(path.parent == top for path in dag_files(top, skip=find_projects(top)))


def folders_without_project_file(root: Path) -> list[str]:
    """Folders under ``root`` (relative, POSIX) holding ``dag.py`` and no ``leoflow.yaml``,
    neither their own nor an enclosing folder's."""
    root = Path(root)
    if not root.is_dir() or (root / PROJECT_FILE).is_file() or airflow_folder(root):
        return []
    found: list[str] = []

    def walk(folder: Path, depth: int) -> None:
        if (folder / PROJECT_FILE).is_file():
            return  # a project: its own folders are its business
        if folder != root and (folder / DAG_FILE).is_file():
            found.append(folder.relative_to(root).as_posix())
            return
        if depth >= MAX_DEPTH:
            return
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name in IGNORED_DIRS or entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), depth + 1)

    walk(root, 0)
    return found


def dag_id_for(folder: str) -> str:
    """A valid dag_id from a folder's name (letters, digits, ``_``, ``-``, ``.``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(folder).name).strip("._-")
    return name or "my_dag"


def create_project_file(root: Path, folder: str) -> Path:
    """Write ``leoflow.yaml`` from the template into ``root/folder`` (never over one that
    appeared meanwhile, never through a link)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    text = TEMPLATE.format(dag_id=dag_id_for(folder), python_version=python)
    return write_file(Path(root) / folder / PROJECT_FILE, text, root=root, exclusive=True)
