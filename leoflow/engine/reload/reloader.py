"""Hot reload: a saved DAG project is compiled and registered as a new version at once.

``Reloader`` watches the workspace (``watcher``). When a project's ``dag.py``,
``leoflow.yaml`` or another of its Python files is saved (from the IDE or any editor), the
project is reloaded (``compiling``: environment, compile in a child process, register; a
plain Airflow DAGs folder: ``plain_folder``). What a reload writes goes through the
engine's services (``registering``); what it tells goes to subscribers as ``ReloadEvent``\\ s
(``events``); why it failed is a ``ReloadError`` with a typed kind (``errors``).

Bursts are coalesced twice: ``watchfiles`` groups changes until they pause for
``step_ms``, and a project being reloaded is reloaded once more afterwards however many saves
arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from leoflow.engine.environments.manager import EnvironmentManager
from leoflow.engine.reload.compiling import reload_project
from leoflow.engine.reload.errors import ReloadError, ReloadStep
from leoflow.engine.reload.events import (
    EventKind,
    Listener,
    Listeners,
    ProjectEntry,
    ProjectStatus,
    ReloadEvent,
)
from leoflow.engine.reload.plain_folder import is_plain_root, reload_plain
from leoflow.engine.reload.projects import PROJECT_FILE, find_projects
from leoflow.engine.reload.registering import Registry
from leoflow.engine.reload.watcher import watch
from leoflow.engine.services.dag_files import DagFiles
from leoflow.engine.services.import_errors import ImportErrors
from leoflow.engine.services.operations import Operations, SchedulerHandle
from leoflow.engine.store import Store

log = logging.getLogger("leoflow.lite.reload")

DEFAULT_STEP_MS = 50        # a burst ends after this long without a change
DEFAULT_DEBOUNCE_MS = 400   # ... or after this long in any case
# projects compiled at once (a start compiles the whole workspace): one per core, up to 4
DEFAULT_CONCURRENCY = max(1, min(4, os.cpu_count() or 1))


class ReloadPlane(Protocol):
    """The parts of the control plane a reload uses (``ControlPlane`` has them)."""

    @property
    def store(self) -> Store: ...

    @property
    def operations(self) -> Operations: ...

    @property
    def environments(self) -> EnvironmentManager: ...

    @property
    def scheduler(self) -> SchedulerHandle: ...


class Reloader:
    """Compiles and registers the workspace's projects, now and whenever they are saved.

    ``plane`` may be given later (``reloader.plane = plane``) but before ``start()``: the
    IDE is mounted, and receives this object, before the control plane exists.
    """

    def __init__(self, workspace: Path, plane: ReloadPlane | None = None, *,
                 step_ms: int = DEFAULT_STEP_MS, debounce_ms: int = DEFAULT_DEBOUNCE_MS,
                 concurrency: int = DEFAULT_CONCURRENCY, compile_timeout: float | None = None,
                 watch: bool = True, paused_on_create: bool = False) -> None:
        self.workspace = Path(workspace).expanduser().resolve()
        self.plane = plane
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.watch = watch
        self.paused_on_create = paused_on_create  # Lite: new DAGs run at once; a server: paused
        self.compile_timeout = compile_timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._listeners = Listeners()
        self._file_listeners: list[Callable[[tuple[Path, ...]], Any]] = []
        self._projects: dict[Path, ProjectEntry] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._scan: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._watching = asyncio.Event()
        self._registry: Registry | None = None
        self.started = False
        # results of the plain folder's files by path (leoflow.engine.reload.plain_folder)
        self.plain_cache: dict[Path, Any] = {}

    # -- the public face -----------------------------------------------------------------------
    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (a coroutine function is scheduled as a
        task). Returns a function that unsubscribes."""
        return self._listeners.subscribe(callback)

    def subscribe_files(self, callback: Callable[[tuple[Path, ...]], Any]
                        ) -> Callable[[], None]:
        """Call ``callback(paths)`` with every batch of changed workspace files (absolute
        paths, whatever changed them: the IDE's open files are checked against the disk).
        Returns a function that unsubscribes."""
        self._file_listeners.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._file_listeners.remove(callback)

        return unsubscribe

    def _files_changed(self, paths: tuple[Path, ...]) -> None:
        for listener in list(self._file_listeners):
            try:
                listener(paths)
            except Exception:
                log.exception("a file-change listener failed")

    async def start(self, *, scan: bool = True) -> None:
        """Start watching and reload every project of the workspace in the background
        (``settled()`` waits for that). With ``scan=False`` the workspace is reloaded when
        ``scan()`` is called (Lite does so once it serves requests)."""
        if self.plane is None:
            raise RuntimeError("Reloader.start() needs the control plane (reloader.plane)")
        if self.started:
            return
        self.started = True
        self._stop.clear()
        if self.watch:
            self._watcher = asyncio.create_task(
                watch(self.workspace, self._request, debounce_ms=self.debounce_ms,
                      step_ms=self.step_ms, stop=self._stop, ready=self._watching,
                      changed=self._files_changed),
                name="leoflow-reload-watch")
            # Changes made before the watcher is ready would be missed: wait for it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._watching.wait(), 5.0)
        if scan:
            self.scan()

    def scan(self) -> None:
        """Reload every project of the workspace in the background (once)."""
        if self._scan is None and self.started:
            self._scan = asyncio.create_task(self._initial_scan(), name="leoflow-reload-scan")

    async def stop(self) -> None:
        """Stop watching; reloads in progress are cancelled (their child process ends with
        its timeout at worst; nothing half-registered: registration is one transaction)."""
        self._stop.set()
        tasks = [t for t in (self._watcher, self._scan) if t is not None]
        tasks += [p.task for p in self._projects.values() if p.task is not None]
        tasks += self._listeners.pending()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watcher = self._scan = None
        self.started = False

    async def reload_now(self, project_dir: Path | str, *, force: bool = False
                         ) -> ProjectStatus:
        """Reload one project now and return its status once done. Without ``force`` an
        unchanged project is not compiled again."""
        path = self._absolute(project_dir)
        return await self._request(path, force=force)

    def status(self, project: Path | str) -> ProjectStatus | None:
        """The status of a project (its folder, absolute or relative to the workspace)."""
        entry = self._projects.get(self._absolute(project))
        return entry.status if entry is not None else None

    def statuses(self) -> list[ProjectStatus]:
        return [p.status for _, p in sorted(self._projects.items())]

    async def settled(self, timeout: float = 120.0) -> None:
        """Wait until the first scan is done and no reload is running or queued."""
        async def quiet() -> None:
            if self._scan is not None:
                await asyncio.shield(self._scan)
            while True:
                busy = [p.task for p in self._projects.values()
                        if p.task is not None and not p.task.done()]
                if not busy:
                    return
                await asyncio.wait(busy)

        await asyncio.wait_for(quiet(), timeout)

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.workspace).as_posix()
        except ValueError:
            return str(path)

    # -- what the reload steps share -----------------------------------------------------------
    def require_plane(self) -> ReloadPlane:
        if self.plane is None:
            raise RuntimeError("the reloader has no control plane (reloader.plane)")
        return self.plane

    @property
    def registry(self) -> Registry:
        """The services a reload writes through (made once the plane is known)."""
        plane = self.require_plane()
        if self._registry is None or self._registry.operations is not plane.operations:
            self._registry = Registry(
                self.workspace, self.relative, operations=plane.operations,
                import_errors=ImportErrors(plane.store),
                dag_files=DagFiles(plane.store, plane.scheduler),
                paused_on_create=self.paused_on_create)
        return self._registry

    def event(self, kind: EventKind, entry: ProjectEntry, **values: Any) -> ReloadEvent:
        return ReloadEvent(kind, entry.status.project, entry.path, **values)

    def emit(self, event: ReloadEvent) -> None:
        self._listeners.emit(event)

    def fail(self, entry: ProjectEntry, error: ReloadError, started: float) -> None:
        elapsed = time.monotonic() - started
        event = self.event("failed", entry, error=error, seconds=elapsed)
        entry.status = replace(entry.status, state="failed", error=error,
                               updated_at=event.at, seconds=elapsed)
        log.warning("%s", error)
        self.emit(event)

    # -- scheduling ------------------------------------------------------------------------------
    def _absolute(self, project: Path | str) -> Path:
        path = Path(project).expanduser()
        if not path.is_absolute():
            path = self.workspace / path
        return path.resolve()

    def _entry(self, path: Path) -> ProjectEntry:
        entry = self._projects.get(path)
        if entry is None:
            entry = ProjectEntry(path, ProjectStatus(self.relative(path), path, "pending"))
            self._projects[path] = entry
        return entry

    def _request(self, path: Path, *, force: bool = False) -> asyncio.Future[ProjectStatus]:
        entry = self._entry(path)
        entry.dirty = True
        entry.force = entry.force or force
        waiter: asyncio.Future[ProjectStatus] = asyncio.get_running_loop().create_future()
        entry.waiters.append(waiter)
        if entry.task is None or entry.task.done():
            entry.task = asyncio.create_task(self._drive(entry),
                                             name=f"leoflow-reload-{entry.status.project}")
        return waiter

    async def _drive(self, entry: ProjectEntry) -> None:
        """Reload while saves keep arriving; one reload of a project at a time."""
        while entry.dirty:
            entry.dirty = False
            force, entry.force = entry.force, False
            waiters, entry.waiters = entry.waiters, []
            try:
                async with self._slots:
                    await self._reload(entry, force=force)
            except asyncio.CancelledError:
                for waiter in waiters:
                    waiter.cancel()
                raise
            except Exception as exc:  # a bug of ours: keep the watcher alive, say so
                log.exception("reloading %s failed", entry.status.project)
                self.fail(entry, ReloadError(entry.status.project, None,
                                             f"Leoflow could not reload the project: {exc}",
                                             kind=ReloadStep.INTERNAL), time.monotonic())
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(entry.status)

    async def _reload(self, entry: ProjectEntry, *, force: bool) -> None:
        if entry.path == self.workspace and not (entry.path / PROJECT_FILE).is_file():
            await reload_plain(self, entry, force=force)
        else:
            await reload_project(self, entry, force=force)

    async def _initial_scan(self) -> None:
        projects = await asyncio.to_thread(find_projects, self.workspace)
        await self.registry.forget_stale_errors(projects)
        await self.registry.mark_stale(await self.registry.vanished_files(projects))
        waiters = [self._request(p.resolve()) for p in projects]
        if await asyncio.to_thread(is_plain_root, self.workspace):
            waiters.append(self._request(self.workspace))
        if waiters:
            await asyncio.gather(*waiters, return_exceptions=True)
        ok = sum(1 for p in self._projects.values() if p.status.state == "ok")
        plain = self._projects.get(self.workspace)
        if plain is not None:  # a plain DAGs folder: say how many DAGs, and which files failed
            log.info("%d DAGs registered from the DAG files of %s%s", len(plain.status.dag_ids),
                     self.workspace, "" if plain.status.ok else " (some files failed: see "
                     "the import errors)")
        if projects or plain is None:
            log.info("%d of %d projects registered from %s", ok - (plain is not None and
                     plain.status.ok), len(projects), self.workspace)
