"""Hot reload of a plain Airflow DAGs folder (the workspace's own ``.py`` files).

``leoflow lite --workspace ~/airflow/dags`` or ``leoflow-server --dags-folder ...`` points
Leoflow at a folder of Airflow DAG files with no leoflow.yaml. Its DAG files (the ones
outside the workspace's leoflow.yaml projects) form one project rooted at the workspace,
compiled by ``leoflow.engine.compiler.folder``. A reload:

1. builds (or finds) the folder's shared environment from its ``requirements.txt``;
2. compiles the files that changed since the last reload, and the ones whose helper modules
   changed, each in its own child; a file that failed last time is always compiled again;
3. registers every DAG of every good file (``fileloc``: the file, relative to the workspace),
   records each broken file's error as that file's import error (its last good DAGs stay
   registered and runnable), and marks stale the DAGs a file no longer defines.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from leoflow.app.workspace import IGNORED_DIRS, PROJECT_FILE, find_projects, tree_fingerprint
from leoflow.errors import LeoflowError

if TYPE_CHECKING:
    from leoflow.app.hot_reload import Reloader, ReloadEvent, _Project
    from leoflow.engine.compiler.folder import CompiledFile

FOLDER_FILES = (".airflowignore", "requirements.txt")


def is_plain_root(workspace: Path) -> bool:
    """The workspace holds DAG files of its own, outside any leoflow.yaml project."""
    from leoflow.engine.compiler.folder import dag_files

    if (workspace / PROJECT_FILE).is_file():
        return False
    return bool(dag_files(workspace, skip=find_projects(workspace)))


def belongs_to_root(workspace: Path, path: Path) -> bool:
    """A changed path that concerns the plain folder: a ``.py`` file (a DAG file or a
    helper) outside leoflow.yaml projects, or the folder's requirements / ignore file."""
    try:
        relative = path.relative_to(workspace)
    except ValueError:
        return False
    if any(part in IGNORED_DIRS or part.startswith(".") for part in relative.parts[:-1]):
        return False
    return path.suffix == ".py" or path.name in FOLDER_FILES


async def reload_plain(reloader: Reloader, entry: _Project, *, force: bool) -> None:
    """One reload of the workspace's plain folder (see the module docstring)."""
    from leoflow.app.hot_reload import ProjectStatus, ReloadError, _Failure
    from leoflow.engine.compiler.child import DEFAULT_TIMEOUT
    from leoflow.engine.compiler.folder import compile_files, dag_files, folder_config

    root = reloader.workspace
    started = time.monotonic()
    projects = await asyncio.to_thread(find_projects, root)
    current = await asyncio.to_thread(tree_fingerprint, root,
                                      names=frozenset(FOLDER_FILES), skip=frozenset(projects))
    if not force and current == entry.fingerprint:
        return
    entry.fingerprint = current
    files = await asyncio.to_thread(dag_files, root, skip=projects)
    cache: dict[Path, CompiledFile] = reloader.plain_cache
    gone = {reloader.relative(p) for p in set(cache) - set(files)}
    for path in set(cache) - set(files):
        del cache[path]
    if gone:
        for relative in gone:
            await reloader._record_error(relative, None)
        await reloader._mark_stale(gone)
    if not files:
        entry.status = replace(entry.status, state="removed", error=None,
                               dag_ids=(), versions={}, updated_at=datetime.now(UTC))
        reloader._emit(reloader._event("removed", entry))
        return
    entry.status = replace(entry.status, state="compiling")
    reloader._emit(reloader._event("compiling", entry))
    try:
        try:
            config = await asyncio.to_thread(folder_config, root)
        except LeoflowError as exc:
            raise reloader._located(exc) from None
        python = await reloader._environment(entry, config)
    except _Failure as failure:
        reloader._fail(entry, failure.error, started)
        return
    stale = [p for p in files if force or p not in cache or not cache[p].is_current(root)]
    if stale:
        timeout = reloader.compile_timeout or float(
            os.environ.get("LEOFLOW_COMPILE_TIMEOUT", DEFAULT_TIMEOUT))
        for result in await asyncio.to_thread(compile_files, root, stale, config,
                                              python=python, timeout=timeout):
            cache[result.file] = result
    events: list[ReloadEvent] = []
    first_error: ReloadError | None = None
    versions: dict[str, int] = {}
    for path in files:
        result = cache[path]
        relative = reloader.relative(path)
        if result.error is not None:
            located = reloader._located(result.error).error
            await reloader._record_error(relative, located)
            first_error = first_error or located
            continue
        try:
            compiled = await reloader._register_documents(
                entry, result.documents, source=result.source, dag_file=relative,
                started=started)
        except _Failure as failure:
            await reloader._record_error(relative, failure.error)
            first_error = first_error or failure.error
            continue
        await reloader._record_error(relative, None)
        await reloader._mark_stale({relative}, keep={e.dag_id for e in compiled if e.dag_id})
        versions.update({e.dag_id: e.version_number for e in compiled
                         if e.dag_id is not None and e.version_number is not None})
        events.extend(compiled)
    seconds = time.monotonic() - started
    entry.status = ProjectStatus(entry.status.project, entry.path,
                                 "failed" if first_error else "ok", dag_ids=tuple(versions),
                                 versions=versions, error=first_error,
                                 updated_at=datetime.now(UTC), seconds=seconds)
    for event in events:
        reloader._emit(event)
    if first_error is not None:
        reloader._emit(reloader._event("failed", entry, error=first_error, seconds=seconds))
