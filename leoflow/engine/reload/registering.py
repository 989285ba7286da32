"""Registering what a reload compiled, and forgetting what left: all through the services.

A compiled DAG is registered by ``Operations.register_dag`` as a draft (a new version when
its content changed, replacing the previous draft unless a run pinned it; new DAGs created
paused on a server; in Lite, see ``paused_at_creation``); a file's import error is
recorded or cleared by the ``ImportErrors`` service; DAGs whose file is gone, or no longer
defines them, are marked stale by the ``DagFiles`` service. Filenames are the DAGs'
``fileloc``: the file relative to the workspace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from leoflow.engine.reload.errors import ReloadError, ReloadFailure, ReloadStep
from leoflow.engine.reload.events import ProjectEntry, ReloadEvent
from leoflow.engine.reload.projects import DAG_FILE
from leoflow.engine.services.dag_files import DagFiles
from leoflow.engine.services.import_errors import ImportErrors
from leoflow.engine.services.operations import Operations
from leoflow.engine.workspace_tenants import tenant_of_file
from leoflow.errors import LeoflowError

log = logging.getLogger("leoflow.lite.reload")


# Schedules that start runs by the clock, in the background, with nobody asking.
CLOCK_SCHEDULES = frozenset({"once", "cron", "timedelta"})


def paused_at_creation(document: Mapping[str, Any], paused_on_create: bool) -> bool:
    """Whether a DAG registered for the first time starts paused.

    A server pauses every new DAG (``paused_on_create``, Airflow's
    ``dags_are_paused_at_creation``). Lite pauses the ones a clock would start (cron,
    timedelta, ``@once``): Airflow users expect that, and the scheduled examples must not
    run in the background on a first start. A DAG that runs only when triggered (or when
    its assets are updated, which needs a run of their producer first) starts active, so
    the first Trigger in the IDE just runs it. The DAGs page says which are paused."""
    if paused_on_create:
        return True
    schedule = document.get("schedule")
    kind = schedule.get("kind") if isinstance(schedule, Mapping) else None
    return kind in CLOCK_SCHEDULES


class Registry:
    """The reloader's writes: DAG versions, import errors and stale DAGs of a workspace."""

    def __init__(self, workspace: Path, relative: Callable[[Path], str], *,
                 operations: Operations, import_errors: ImportErrors, dag_files: DagFiles,
                 paused_on_create: bool) -> None:
        self.workspace = workspace
        self.relative = relative
        self.operations = operations
        self.import_errors = import_errors
        self.dag_files = dag_files
        self.paused_on_create = paused_on_create

    async def register(self, entry: ProjectEntry, documents: Iterable[Mapping[str, Any]], *,
                       source: str, dag_file: str, started: float) -> list[ReloadEvent]:
        """Register DAGs of one file (``dag_file``, relative to the workspace); the
        ``compiled`` events to publish."""
        events = []
        for document in documents:
            dag_id = document["dag_id"]
            before = await self.dag_files.current_version_id(dag_id)
            try:  # a project in tenants/<T>/ of the workspace registers T's DAGs
                version = await self.operations.register_dag(
                    document, source_code=source, fileloc=dag_file,
                    paused_on_create=paused_at_creation(document, self.paused_on_create),
                    tenant=tenant_of_file(dag_file),
                    draft=True)  # a save: replaced by the next one unless a run pins it
            except LeoflowError as exc:
                raise ReloadFailure(ReloadError(
                    dag_file, document.get("line"),
                    f"DAG {dag_id!r} could not be registered: {exc}",
                    kind=ReloadStep.REGISTER)) from None
            new = before is None or before != version.id
            if new:
                log.info("registered %s version %d from %s (%.2f s)", dag_id,
                         version.version_number, dag_file, time.monotonic() - started)
            events.append(ReloadEvent("compiled", entry.status.project, entry.path,
                                      dag_id=dag_id, version_number=version.version_number,
                                      new_version=new, spec=document,
                                      seconds=time.monotonic() - started))
        return events

    async def record_error(self, dag_file: str, error: ReloadError | None) -> None:
        """Make ``error`` the file's only import error, or clear its errors."""
        if error is None:
            await self.import_errors.clear(dag_file)
        else:
            await self.import_errors.record(dag_file, str(error), error.traceback)

    async def forget_stale_errors(self, projects: Iterable[Path]) -> None:
        """Import errors of files that left the workspace while Lite was not running."""
        await self.import_errors.forget_missing({self.relative(p / DAG_FILE) for p in projects})

    async def vanished_files(self, projects: Iterable[Path]) -> set[str]:
        """Lite's DAG files (relative ``fileloc``) that are no longer in the workspace."""
        current = {self.relative(p / DAG_FILE) for p in projects}
        return {f for f in await self.dag_files.active_filelocs()
                if not Path(f).is_absolute() and f not in current
                and not (self.workspace / f).exists()}

    async def mark_stale(self, files: set[str], keep: Iterable[str] = ()) -> None:
        """Mark stale the DAGs of ``files`` other than ``keep``: their file is gone or no
        longer defines them (Airflow's stale DAGs: kept with their history, not listed as
        active, not triggerable; registering them again revives them)."""
        gone = await self.dag_files.mark_stale(files, keep)
        if gone:
            log.info("marked stale (their file no longer defines them): %s", ", ".join(gone))
