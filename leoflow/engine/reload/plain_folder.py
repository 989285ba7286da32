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
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from leoflow.engine.reload.compiling import compile_as, compile_timeout, prepare_environment
from leoflow.engine.reload.errors import ReloadError, ReloadFailure, located
from leoflow.engine.reload.events import ProjectEntry, ProjectStatus, ReloadEvent
from leoflow.engine.reload.projects import (
    IGNORED_DIRS,
    PROJECT_FILE,
    find_projects,
    tree_fingerprint,
)
from leoflow.errors import LeoflowError

if TYPE_CHECKING:
    from leoflow.engine.compiler.folder import CompiledFile
    from leoflow.engine.reload.reloader import Reloader

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


async def reload_plain(reloader: Reloader, entry: ProjectEntry, *, force: bool) -> None:
    """One reload of the workspace's plain folder (see the module docstring)."""
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
    registry = reloader.registry
    if gone:
        for relative in gone:
            await registry.record_error(relative, None)
        await registry.mark_stale(gone)
    if not files:
        entry.status = replace(entry.status, state="removed", error=None,
                               dag_ids=(), versions={}, updated_at=datetime.now(UTC))
        reloader.emit(reloader.event("removed", entry))
        return
    entry.status = replace(entry.status, state="compiling")
    reloader.emit(reloader.event("compiling", entry))
    try:
        try:
            config = await asyncio.to_thread(folder_config, root)
        except LeoflowError as exc:
            raise located(exc, reloader.relative) from None
        python = await prepare_environment(reloader, entry, config)
    except ReloadFailure as failure:
        reloader.fail(entry, failure.error, started)
        return
    stale = [p for p in files if force or p not in cache or not cache[p].is_current(root)]
    if stale:
        for result in await asyncio.to_thread(compile_files, root, stale, config,
                                              python=python,
                                              timeout=compile_timeout(reloader),
                                              run_as=lambda f: compile_as(reloader, f)):
            cache[result.file] = result
    events: list[ReloadEvent] = []
    first_error: ReloadError | None = None
    versions: dict[str, int] = {}
    for path in files:
        result = cache[path]
        relative = reloader.relative(path)
        if result.error is not None:
            error = located(result.error, reloader.relative).error
            await registry.record_error(relative, error)
            first_error = first_error or error
            continue
        try:
            compiled = await registry.register(
                entry, result.documents, source=result.source, dag_file=relative,
                started=started)
        except ReloadFailure as failure:
            await registry.record_error(relative, failure.error)
            first_error = first_error or failure.error
            continue
        await registry.record_error(relative, None)
        await registry.mark_stale({relative}, keep={e.dag_id for e in compiled if e.dag_id})
        versions.update({e.dag_id: e.version_number for e in compiled
                         if e.dag_id is not None and e.version_number is not None})
        events.extend(compiled)
    seconds = time.monotonic() - started
    entry.status = ProjectStatus(entry.status.project, entry.path,
                                 "failed" if first_error else "ok", dag_ids=tuple(versions),
                                 versions=versions, error=first_error,
                                 updated_at=datetime.now(UTC), seconds=seconds)
    for event in events:
        reloader.emit(event)
    if first_error is not None:
        reloader.emit(reloader.event("failed", entry, error=first_error, seconds=seconds))
