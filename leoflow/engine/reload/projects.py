"""Where a workspace's DAG projects are: project discovery for the hot reloader and the CLI.

A *project* is a folder holding ``leoflow.yaml`` (and its ``dag.py``). The workspace is
scanned for them to a bounded depth, skipping build outputs and tool folders, so that a
stray virtual environment or ``node_modules`` never slows a start down. The reloader also
asks which project a saved file belongs to (``project_of``) and whether a project's files
changed since its last compile (``tree_fingerprint``).

Only the standard library is imported here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PROJECT_FILE = "leoflow.yaml"
DAG_FILE = "dag.py"
# Folders never scanned or watched: environments, caches, VCS and build outputs.
IGNORED_DIRS = frozenset({".venv", "venv", "__pycache__", ".git", ".hg", ".svn",
                          "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                          ".ipynb_checkpoints", "dags", ".leoflow"})
MAX_PROJECT_DEPTH = 4  # workspace/a/b/c/d/leoflow.yaml at most


def is_ignored(path: Path) -> bool:
    """Whether a path lies in a folder that is never scanned (``.venv``, ``.git``, ...)."""
    return any(part in IGNORED_DIRS for part in path.parts)


def tree_fingerprint(root: Path, *, names: frozenset[str] = frozenset(),
                     skip: frozenset[Path] = frozenset()) -> str:
    """A hash of the Python files below ``root`` and of the files called ``names``, by path
    and content, leaving out ignored and hidden folders and the folders in ``skip``: what
    compiling a project (or a plain DAGs folder) depends on."""
    digest = hashlib.sha256()
    skipped = {p.resolve() for p in skip}
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not d.startswith(".")
                         and (here / d).resolve() not in skipped)
        for name in sorted(files):
            if name.endswith(".py") or name in names:
                path = here / name
                digest.update(str(path.relative_to(root)).encode())
                try:
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
                except OSError:
                    digest.update(b"<missing>")
    return digest.hexdigest()


def is_blank(path: Path) -> bool:
    """A file with nothing but whitespace in it (a ``leoflow.yaml`` just created, not typed
    yet): not an error to report while the user writes it."""
    try:
        if path.stat().st_size > 4096:
            return False
        return not path.read_bytes().strip()
    except OSError:
        return False


def find_projects(workspace: Path, *, max_depth: int = MAX_PROJECT_DEPTH) -> list[Path]:
    """Every project folder in the workspace (a folder with ``leoflow.yaml``), sorted.

    Projects do not nest: below a project, only its own files are looked at.
    """
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if (folder / PROJECT_FILE).is_file():
            found.append(folder)
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in children:
            if entry.name in IGNORED_DIRS or entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), depth + 1)

    if workspace.is_dir():
        walk(workspace, 0)
    return found


def project_of(workspace: Path, path: Path) -> Path | None:
    """The project folder a file belongs to (its nearest ancestor with ``leoflow.yaml``,
    inside the workspace), or None. A deleted project's ``dag.py`` or ``leoflow.yaml`` still
    names its folder, so that its removal can be handled."""
    try:
        relative = path.relative_to(workspace)
    except ValueError:
        return None
    if is_ignored(relative):
        return None
    folder = path.parent
    if path.name in (PROJECT_FILE, DAG_FILE):
        return folder
    while folder != workspace and workspace in folder.parents:
        if (folder / PROJECT_FILE).is_file():
            return folder
        folder = folder.parent
    return None
