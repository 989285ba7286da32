"""One reload of a ``leoflow.yaml`` project: environment, compile, register.

1. its environment is made ready (built first when ``leoflow.yaml``'s Python version or
   dependencies changed, with ``environment`` events carrying uv's progress lines);
2. ``dag.py`` is compiled in a child process running that environment's interpreter (user
   code never runs in the control plane), in a thread so the event loop never waits;
3. every DAG it defines is registered (a new version when its content changed) and the
   project's import errors are cleared; DAGs its file no longer defines go stale.

A project that fails at any step keeps its last good version registered and runnable: the
error is recorded as an import error of the project's ``dag.py`` (message ``file:line: ...``,
paths relative to the workspace) and published as a ``failed`` event; the next good save
clears it. A content fingerprint skips reloads of unchanged files (an editor's touch, the
IDE's explicit ``reload_now`` followed by the watcher's own event).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leoflow.engine.reload.errors import ReloadFailure, environment_failure, located
from leoflow.engine.reload.events import ProjectEntry, ProjectStatus
from leoflow.engine.reload.projects import (
    DAG_FILE,
    PROJECT_FILE,
    is_blank,
    tree_fingerprint,
)
from leoflow.errors import LeoflowError

if TYPE_CHECKING:
    from leoflow.engine.reload.reloader import Reloader

log = logging.getLogger("leoflow.lite.reload")


async def reload_project(reloader: Reloader, entry: ProjectEntry, *, force: bool) -> None:
    """Reload one project folder (see the module docstring); a folder whose
    ``leoflow.yaml`` is gone is reported removed."""
    from leoflow.engine.compiler.compile import load_project_config

    path = entry.path
    started = time.monotonic()
    if not (path / PROJECT_FILE).is_file():
        if entry.status.state != "removed":
            await removed(reloader, entry)
        return
    if await asyncio.to_thread(is_blank, path / PROJECT_FILE):
        return  # a leoflow.yaml being written: "not yet", no error flashes while it is typed
    fingerprint = await asyncio.to_thread(tree_fingerprint, path,
                                          names=frozenset({PROJECT_FILE}))
    if not force and fingerprint == entry.fingerprint:
        return
    entry.fingerprint = fingerprint
    entry.status = replace(entry.status, state="compiling")
    reloader.emit(reloader.event("compiling", entry))
    dag_file = reloader.relative(path / DAG_FILE)
    registry = reloader.registry
    try:
        try:
            config = await asyncio.to_thread(load_project_config, path)
        except LeoflowError as exc:
            raise located(exc, reloader.relative) from None
        python = await prepare_environment(reloader, entry, config)
        project = await compile_in_child(reloader, path, python)
        compiled = await registry.register(entry, project.documents, source=project.source,
                                           dag_file=dag_file, started=started)
    except ReloadFailure as failure:
        await registry.record_error(dag_file, failure.error)
        reloader.fail(entry, failure.error, started)
        return
    await registry.record_error(dag_file, None)
    await registry.mark_stale({dag_file}, keep={e.dag_id for e in compiled if e.dag_id})
    versions = {e.dag_id: e.version_number for e in compiled
                if e.dag_id is not None and e.version_number is not None}
    entry.status = ProjectStatus(entry.status.project, path, "ok",
                                 dag_ids=tuple(versions), versions=versions,
                                 updated_at=datetime.now(UTC),
                                 seconds=time.monotonic() - started)
    for event in compiled:  # after the store and the status say so too
        reloader.emit(event)


async def prepare_environment(reloader: Reloader, entry: ProjectEntry, config: Any) -> str:
    """The interpreter of the project's environment, built first when needed."""
    manager = reloader.require_plane().environments

    def progress(line: str) -> None:
        reloader.emit(reloader.event("environment", entry, dag_id=config.dag_id, message=line))

    if manager.find(config.dag_id, config.python_version, config.dependencies) is None:
        log.info("building the environment of %s (python %s, %d dependencies)",
                 config.dag_id, config.python_version or "default",
                 len(config.dependencies))
    try:  # an environment that is ready costs a marker check
        env = await manager.ensure(config.dag_id, config.python_version,
                                   config.dependencies, progress=progress)
    except (LeoflowError, OSError, ValueError) as exc:
        raise environment_failure(exc, entry.path, reloader.relative) from None
    return str(env.python)


def compile_timeout(reloader: Reloader) -> float:
    """Seconds a compile child may run: the reloader's, else LEOFLOW_COMPILE_TIMEOUT, else
    the compiler's default."""
    from leoflow.engine.compiler.child import DEFAULT_TIMEOUT

    return reloader.compile_timeout or float(
        os.environ.get("LEOFLOW_COMPILE_TIMEOUT", DEFAULT_TIMEOUT))


def compile_as(reloader: Reloader, dag_file: Path) -> Any:
    """Whose file it is: a project in ``tenants/<T>/`` of the workspace compiles as ``T``'s
    user, with the reach of its tasks (docs/security.md, "What isolates tenants")."""
    from leoflow.engine.compiler.tenant_user import compile_as as for_tenant
    from leoflow.engine.workspace_tenants import tenant_of_file

    return for_tenant(reloader.require_plane(), tenant_of_file(reloader.relative(dag_file)),
                      reloader.workspace)


async def compile_in_child(reloader: Reloader, path: Path, python: str) -> Any:
    """Compile the project with its environment's interpreter, in a thread, as the user of
    the tenant whose project it is."""
    from leoflow.engine.compiler.compile import compile_project

    try:
        return await asyncio.to_thread(compile_project, path, python=python,
                                       timeout=compile_timeout(reloader),
                                       run_as=compile_as(reloader, path / DAG_FILE))
    except LeoflowError as exc:
        raise located(exc, reloader.relative) from None


async def removed(reloader: Reloader, entry: ProjectEntry) -> None:
    """The project's files are gone: its errors are cleared, its DAGs kept as stale."""
    dag_file = reloader.relative(entry.path / DAG_FILE)
    await reloader.registry.record_error(dag_file, None)
    await reloader.registry.mark_stale({dag_file})
    entry.fingerprint = None
    entry.status = replace(entry.status, state="removed", error=None,
                           updated_at=datetime.now(UTC))
    log.info("project %s is gone; its DAGs are kept, with their history, as stale",
             entry.status.project)
    reloader.emit(reloader.event("removed", entry))
