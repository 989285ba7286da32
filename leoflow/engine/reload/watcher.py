"""Watching the workspace: which saved files matter, and which project each belongs to.

``watchfiles`` groups changes until they pause for ``step_ms`` (or for ``debounce_ms`` at
most); each batch becomes one reload request per touched project (the reloader coalesces
requests for a project being reloaded). A ``.py`` file outside every ``leoflow.yaml``
project belongs to the workspace itself when it is a plain Airflow DAGs folder.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from leoflow.engine.reload.plain_folder import FOLDER_FILES, belongs_to_root
from leoflow.engine.reload.projects import IGNORED_DIRS, PROJECT_FILE, find_projects, project_of

log = logging.getLogger("leoflow.lite.reload")

WATCHED_SUFFIXES = (".py",)


def _in_ignored_dir(path: str, root: Path | None) -> bool:
    """Whether ``path`` is inside an ignored folder, counting only the folders below
    ``root``: a workspace that is itself named ``dags`` (Airflow's DAGs folder) is watched."""
    parts = Path(path).parts
    for base in ((root, root.resolve()) if root is not None else ()):
        if Path(path).is_relative_to(base):
            parts = Path(path).relative_to(base).parts
            break
    return any(part in IGNORED_DIRS for part in parts)


def noticed(_change: Any, path: str, root: Path | None = None) -> bool:
    """Whether a change is worth telling at all (``Reloader.subscribe_files``: the IDE's open
    files): anything but hidden files, editor backups and ignored folders."""
    name = os.path.basename(path)
    if (name.startswith(".") and name not in FOLDER_FILES) or name.endswith("~"):
        return False
    return not _in_ignored_dir(path, root)


def wanted(change: Any, path: str, root: Path | None = None) -> bool:
    """Whether a change concerns a project: a ``.py`` file, a ``leoflow.yaml``, a plain
    folder's requirements or ignore file, or a new folder (outside ignored folders; hidden
    files and editor backups are not)."""
    name = os.path.basename(path)
    if (name.startswith(".") and name not in FOLDER_FILES) or name.endswith("~"):
        return False
    if _in_ignored_dir(path, root):
        return False
    if name == PROJECT_FILE or name.endswith(WATCHED_SUFFIXES) or name in FOLDER_FILES:
        return True
    import watchfiles

    # A new folder: files written into it before its watch was set are not reported.
    return bool(change == watchfiles.Change.added and os.path.isdir(path))


async def watch(workspace: Path, request: Callable[[Path], Any], *, debounce_ms: int,
                step_ms: int, stop: asyncio.Event, ready: asyncio.Event,
                changed: Callable[[tuple[Path, ...]], Any] | None = None) -> None:
    """Call ``request(project_folder)`` for every project a batch of saves touched, until
    ``stop`` is set; ``ready`` is set once the watch is about to begin. ``changed`` hears
    every noticed path of a batch (a file open in the IDE, edited by another program)."""
    import watchfiles

    workspace.mkdir(parents=True, exist_ok=True)
    root = workspace.absolute()
    ready.set()
    try:
        async for changes in watchfiles.awatch(
                workspace, watch_filter=partial(noticed if changed else wanted, root=root),
                debounce=debounce_ms, step=step_ms, stop_event=stop, recursive=True,
                ignore_permission_denied=True):
            if changed is not None:
                changed(tuple(sorted({Path(raw) for _change, raw in changes})))
            touched: set[Path] = set()
            for change, raw in changes:
                if not wanted(change, raw, root=root):
                    continue  # told to ``changed`` only: not a project's file
                path = Path(raw)
                if path.is_dir():  # a folder appeared (mkdir, a copy, a move)
                    found = await asyncio.to_thread(find_projects, path)
                    touched.update(p.resolve() for p in found)
                    path = path / "_.py"  # ... inside a project, maybe
                project = project_of(workspace, path)
                if project is not None:
                    touched.add(project.resolve())
                elif belongs_to_root(workspace, path) and not (
                        workspace / PROJECT_FILE).is_file():
                    touched.add(workspace)  # a plain Airflow DAGs folder
            for project in sorted(touched):
                request(project)
    except Exception:  # say so: saves would silently stop registering
        log.exception("stopped watching %s: saved files are no longer registered until "
                      "Lite restarts", workspace)
