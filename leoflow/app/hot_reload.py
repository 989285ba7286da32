"""Hot reload: a saved DAG project is compiled and registered as a new version at once.

``Reloader`` watches the workspace with ``watchfiles``. When a project's ``dag.py``,
``leoflow.yaml`` or another of its Python files is saved (from the IDE or any editor), the
project is reloaded:

1. its environment is made ready (built first when ``leoflow.yaml``'s Python version or
   dependencies changed, with ``environment`` events carrying uv's progress lines);
2. ``dag.py`` is compiled in a child process running that environment's interpreter (user
   code never runs in the control plane), in a thread so the event loop never waits;
3. every DAG it defines is registered (a new version when its content changed; new DAGs are
   created unpaused) and the project's import errors are cleared.

A project that fails at any step keeps its last good version registered and runnable: the
error is stored as an import error of the project's ``dag.py`` (message ``file:line: ...``,
paths relative to the workspace) and published as a ``failed`` event; the next good save
clears it.

Bursts are coalesced twice: ``watchfiles`` groups changes until they pause for
``step_ms``, and a project being reloaded is reloaded once more afterwards however many saves
arrived meanwhile. A content fingerprint skips reloads of unchanged files (an editor's
touch, the IDE's explicit ``reload_now`` followed by the watcher's own event).

Events (``ReloadEvent``) go to every ``subscribe``\\ d callback, in the event loop:
``compiling``, ``environment`` (one progress line), ``compiled`` (per DAG: ``dag_id``,
``version_number``, ``spec``, ``new_version``), ``failed`` (``error``: ``file``, ``line``,
``message``, ``kind``) and ``removed`` (the project's files are gone; its DAGs stay
registered with their history). Subscribers that only want outcomes look at ``ok`` (True,
False, or None for the steps in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from leoflow.app.plain_reload import FOLDER_FILES, belongs_to_root
from leoflow.app.workspace import (
    DAG_FILE,
    IGNORED_DIRS,
    PROJECT_FILE,
    find_projects,
    project_of,
    tree_fingerprint,
)
from leoflow.engine.workspace_tenants import tenant_of_file
from leoflow.errors import LeoflowError

if TYPE_CHECKING:
    from leoflow.app.controlplane import ControlPlane

log = logging.getLogger("leoflow.lite.reload")

EventKind = Literal["compiling", "environment", "compiled", "failed", "removed"]
ProjectState = Literal["pending", "compiling", "ok", "failed", "removed"]
WATCHED_SUFFIXES = (".py",)
DEFAULT_STEP_MS = 50        # a burst ends after this long without a change
DEFAULT_DEBOUNCE_MS = 400   # ... or after this long in any case
# projects compiled at once (a start compiles the whole workspace): one per core, up to 4
DEFAULT_CONCURRENCY = max(1, min(4, os.cpu_count() or 1))

Listener = Callable[["ReloadEvent"], Any]


@dataclass(frozen=True)
class ReloadError:
    """Why a project did not compile: where (``file`` relative to the workspace, ``line``),
    what (``message``), the compiler's ``kind`` (``syntax``, ``import``, ``cycle``,
    ``environment``...) and the user's traceback when there is one."""

    file: str | None
    line: int | None
    message: str
    kind: str = "error"
    traceback: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class ReloadEvent:
    """One step of a project's reload.

    ``project`` is the project folder relative to the workspace (POSIX separators),
    ``project_dir`` the absolute folder. ``compiled`` events carry one DAG each
    (``dag_id``, ``version_number``, ``spec``; ``new_version`` is False when the content
    was already registered); ``failed`` events carry ``error``; ``environment`` events carry
    one progress line in ``message``. ``seconds`` is the time since the reload began.
    """

    kind: EventKind
    project: str
    project_dir: Path
    dag_id: str | None = None
    version_number: int | None = None
    new_version: bool = False
    spec: Mapping[str, Any] | None = None
    error: ReloadError | None = None
    message: str | None = None
    seconds: float | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool | None:
        """True for ``compiled``, False for ``failed``, None for the steps in between."""
        return {"compiled": True, "failed": False}.get(self.kind)

    @property
    def dag_ids(self) -> tuple[str, ...]:
        return (self.dag_id,) if self.dag_id else ()

    @property
    def versions(self) -> dict[str, int]:
        return {self.dag_id: self.version_number} \
            if self.dag_id and self.version_number is not None else {}

    @property
    def file(self) -> str | None:
        return self.error.file if self.error else None

    @property
    def line(self) -> int | None:
        return self.error.line if self.error else None


@dataclass(frozen=True)
class ProjectStatus:
    """Where a project stands, for the IDE: its DAGs and versions, or its error (the last
    good versions stay registered and runnable while it is failing)."""

    project: str
    project_dir: Path
    state: ProjectState
    dag_ids: tuple[str, ...] = ()
    versions: Mapping[str, int] = field(default_factory=dict)
    error: ReloadError | None = None
    updated_at: datetime | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass
class _Project:
    path: Path
    status: ProjectStatus
    dirty: bool = False
    force: bool = False
    waiters: list[asyncio.Future[ProjectStatus]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    fingerprint: str | None = None


class _Failure(Exception):
    """A reload step failed; carries the located error."""

    def __init__(self, error: ReloadError) -> None:
        super().__init__(str(error))
        self.error = error


class Reloader:
    """Compiles and registers the workspace's projects, now and whenever they are saved.

    ``plane`` may be given later (``reloader.plane = plane``) but before ``start()``: the
    IDE is mounted, and receives this object, before the control plane exists.
    """

    def __init__(self, workspace: Path, plane: ControlPlane | None = None, *,
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
        self._listeners: list[Listener] = []
        self._projects: dict[Path, _Project] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._scan: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._watching = asyncio.Event()
        self.started = False
        # results of the plain folder's files by path (leoflow.app.plain_reload)
        self.plain_cache: dict[Path, Any] = {}

    # -- the public face -----------------------------------------------------------------------
    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (a coroutine function is scheduled as a
        task). Returns a function that unsubscribes."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

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
            self._watcher = asyncio.create_task(self._watch(), name="leoflow-reload-watch")
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
        tasks += list(self._tasks)
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

    # -- scheduling ------------------------------------------------------------------------------
    def _absolute(self, project: Path | str) -> Path:
        path = Path(project).expanduser()
        if not path.is_absolute():
            path = self.workspace / path
        return path.resolve()

    def _entry(self, path: Path) -> _Project:
        entry = self._projects.get(path)
        if entry is None:
            entry = _Project(path, ProjectStatus(self.relative(path), path, "pending"))
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

    async def _drive(self, entry: _Project) -> None:
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
                self._fail(entry, ReloadError(entry.status.project, None,
                                              f"Leoflow could not reload the project: {exc}",
                                              kind="internal"), time.monotonic())
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(entry.status)

    async def _initial_scan(self) -> None:
        from leoflow.app.plain_reload import is_plain_root

        projects = await asyncio.to_thread(find_projects, self.workspace)
        await self._forget_stale_errors(projects)
        await self._mark_stale(await self._vanished_files(projects))
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

    # -- watching ------------------------------------------------------------------------------
    def _wanted(self, change: Any, path: str) -> bool:
        name = os.path.basename(path)
        if (name.startswith(".") and name not in FOLDER_FILES) or name.endswith("~"):
            return False
        if any(part in IGNORED_DIRS for part in Path(path).parts):
            return False
        if name == PROJECT_FILE or name.endswith(WATCHED_SUFFIXES) or name in FOLDER_FILES:
            return True
        import watchfiles

        # A new folder: files written into it before its watch was set are not reported.
        return bool(change == watchfiles.Change.added and os.path.isdir(path))

    async def _watch(self) -> None:
        import watchfiles

        self.workspace.mkdir(parents=True, exist_ok=True)
        self._watching.set()
        try:
            async for changes in watchfiles.awatch(
                    self.workspace, watch_filter=self._wanted, debounce=self.debounce_ms,
                    step=self.step_ms, stop_event=self._stop, recursive=True,
                    ignore_permission_denied=True):
                touched = set()
                for _change, raw in changes:
                    path = Path(raw)
                    if path.is_dir():  # a folder appeared (mkdir, a copy, a move)
                        found = await asyncio.to_thread(find_projects, path)
                        touched.update(p.resolve() for p in found)
                        path = path / "_.py"  # ... inside a project, maybe
                    project = project_of(self.workspace, path)
                    if project is not None:
                        touched.add(project.resolve())
                    elif belongs_to_root(self.workspace, path) and not (
                            self.workspace / PROJECT_FILE).is_file():
                        touched.add(self.workspace)  # a plain Airflow DAGs folder
                for project in sorted(touched):
                    self._request(project)
        except Exception:  # say so: saves would silently stop registering
            log.exception("stopped watching %s: saved files are no longer registered until "
                          "Lite restarts", self.workspace)

    # -- one reload ----------------------------------------------------------------------------
    async def _reload(self, entry: _Project, *, force: bool) -> None:
        from leoflow.engine.compiler.compile import load_project_config

        path = entry.path
        started = time.monotonic()
        if path == self.workspace and not (path / PROJECT_FILE).is_file():
            from leoflow.app.plain_reload import reload_plain

            await reload_plain(self, entry, force=force)
            return
        if not (path / PROJECT_FILE).is_file():
            if entry.status.state != "removed":
                await self._removed(entry)
            return
        fingerprint = await asyncio.to_thread(tree_fingerprint, path,
                                                names=frozenset({PROJECT_FILE}))
        if not force and fingerprint == entry.fingerprint:
            return
        entry.fingerprint = fingerprint
        entry.status = replace(entry.status, state="compiling")
        self._emit(self._event("compiling", entry))
        dag_file = self.relative(path / DAG_FILE)
        try:
            try:
                config = await asyncio.to_thread(load_project_config, path)
            except LeoflowError as exc:
                raise self._located(exc) from None
            python = await self._environment(entry, config)
            project = await self._compile(path, python)
            compiled = await self._register(entry, project, dag_file, started)
        except _Failure as failure:
            await self._record_error(dag_file, failure.error)
            self._fail(entry, failure.error, started)
            return
        await self._record_error(dag_file, None)
        await self._mark_stale({dag_file}, keep={e.dag_id for e in compiled if e.dag_id})
        versions = {e.dag_id: e.version_number for e in compiled
                    if e.dag_id is not None and e.version_number is not None}
        entry.status = ProjectStatus(entry.status.project, path, "ok",
                                     dag_ids=tuple(versions), versions=versions,
                                     updated_at=datetime.now(UTC),
                                     seconds=time.monotonic() - started)
        for event in compiled:  # after the store and the status say so too
            self._emit(event)

    async def _environment(self, entry: _Project, config: Any) -> str:
        """The interpreter of the project's environment, built first when needed."""
        assert self.plane is not None
        manager = self.plane.environments

        def progress(line: str) -> None:
            self._emit(self._event("environment", entry, dag_id=config.dag_id, message=line))

        if manager.find(config.dag_id, config.python_version, config.dependencies) is None:
            log.info("building the environment of %s (python %s, %d dependencies)",
                     config.dag_id, config.python_version or "default",
                     len(config.dependencies))
        try:  # an environment that is ready costs a marker check
            env = await manager.ensure(config.dag_id, config.python_version,
                                       config.dependencies, progress=progress)
        except (LeoflowError, OSError, ValueError) as exc:
            yaml_file = entry.path / PROJECT_FILE
            key = "python_version" if "python" in type(exc).__name__.lower() \
                else "dependencies"
            raise _Failure(ReloadError(
                self.relative(yaml_file), _line_of_key(yaml_file, key),
                f"the DAG's environment could not be built: {exc}", kind="environment",
                traceback=getattr(exc, "output", "") or "")) from None
        return str(env.python)

    async def _compile(self, path: Path, python: str) -> Any:
        from leoflow.engine.compiler.child import DEFAULT_TIMEOUT
        from leoflow.engine.compiler.compile import compile_project

        timeout = self.compile_timeout or float(
            os.environ.get("LEOFLOW_COMPILE_TIMEOUT", DEFAULT_TIMEOUT))
        try:
            return await asyncio.to_thread(compile_project, path, python=python,
                                           timeout=timeout)
        except LeoflowError as exc:
            raise self._located(exc) from None

    async def _register(self, entry: _Project, project: Any, dag_file: str,
                        started: float) -> list[ReloadEvent]:
        """Register every DAG of the compiled project; the ``compiled`` events to publish."""
        return await self._register_documents(entry, project.documents, source=project.source,
                                              dag_file=dag_file, started=started)

    async def _register_documents(self, entry: _Project, documents: Iterable[Mapping[str, Any]],
                                  *, source: str, dag_file: str, started: float
                                  ) -> list[ReloadEvent]:
        """Register DAGs of one file (``dag_file``, relative to the workspace)."""
        from leoflow.engine.store import dags

        assert self.plane is not None
        events = []
        for document in documents:
            dag_id = document["dag_id"]
            async with self.plane.store.connect() as conn:
                before = await dags.current_version(conn, dag_id)
            try:  # a project in tenants/<T>/ of the workspace registers T's DAGs
                version = await self.plane.operations.register_dag(
                    document, source_code=source, fileloc=dag_file,
                    paused_on_create=self.paused_on_create, tenant=tenant_of_file(dag_file))
            except LeoflowError as exc:
                raise _Failure(ReloadError(dag_file, document.get("line"),
                                           f"DAG {dag_id!r} could not be registered: {exc}",
                                           kind="register")) from None
            new = before is None or before.id != version.id
            if new:
                log.info("registered %s version %d from %s (%.2f s)", dag_id,
                         version.version_number, dag_file, time.monotonic() - started)
            events.append(self._event("compiled", entry, dag_id=dag_id,
                                      version_number=version.version_number, new_version=new,
                                      spec=document, seconds=time.monotonic() - started))
        return events

    async def _removed(self, entry: _Project) -> None:
        dag_file = self.relative(entry.path / DAG_FILE)
        await self._record_error(dag_file, None)
        await self._mark_stale({dag_file})
        entry.fingerprint = None
        entry.status = replace(entry.status, state="removed", error=None,
                               updated_at=datetime.now(UTC))
        log.info("project %s is gone; its DAGs are kept, with their history, as stale",
                 entry.status.project)
        self._emit(self._event("removed", entry))

    def _fail(self, entry: _Project, error: ReloadError, started: float) -> None:
        elapsed = time.monotonic() - started
        event = self._event("failed", entry, error=error, seconds=elapsed)
        entry.status = replace(entry.status, state="failed", error=error,
                               updated_at=event.at, seconds=elapsed)
        log.warning("%s", error)
        self._emit(event)

    def _event(self, kind: EventKind, entry: _Project, **values: Any) -> ReloadEvent:
        return ReloadEvent(kind, entry.status.project, entry.path, **values)

    def _located(self, exc: LeoflowError) -> _Failure:
        file = getattr(exc, "file", None)
        if file:
            path = Path(file)
            file = self.relative(path if path.is_absolute() else Path.cwd() / path)
        message = getattr(exc, "message", None) or str(exc)
        return _Failure(ReloadError(file, getattr(exc, "line", None), message,
                                    kind=getattr(exc, "kind", "error"),
                                    traceback=getattr(exc, "traceback", "") or ""))

    # -- the store's import errors ----------------------------------------------------------------
    async def _record_error(self, dag_file: str, error: ReloadError | None) -> None:
        """Make ``error`` the file's only import error, or clear its errors.

        The error is recorded against the file, without a ``dag_id``: the API refuses to
        trigger a DAG that has import errors (as Airflow 3 does), and Lite's promise is that
        the last good version of a broken project stays runnable while it is being fixed.
        """
        from leoflow.engine.store import import_errors

        assert self.plane is not None
        async with self.plane.store.begin() as conn:
            if error is None:
                await import_errors.clear_for_file(conn, dag_file)
            else:
                await import_errors.replace_for_file(
                    conn, dag_file, [(str(error), error.traceback)])

    async def _forget_stale_errors(self, projects: Iterable[Path]) -> None:
        """Import errors of files that left the workspace while Lite was not running."""
        from leoflow.engine.store import import_errors

        assert self.plane is not None
        current = {self.relative(p / DAG_FILE) for p in projects}
        async with self.plane.store.connect() as conn:
            page = await import_errors.list_import_errors(conn, limit=None)
        stale = {e.filename for e in page.items
                 if e.filename not in current and not Path(e.filename).is_absolute()}
        if stale:
            async with self.plane.store.begin() as conn:
                for filename in stale:
                    await import_errors.clear_for_file(conn, filename)

    async def _vanished_files(self, projects: Iterable[Path]) -> set[str]:
        """Lite's DAG files (relative ``fileloc``) that are no longer in the workspace."""
        from leoflow.engine.store import dags

        assert self.plane is not None
        current = {self.relative(p / DAG_FILE) for p in projects}
        async with self.plane.store.connect() as conn:
            rows = (await dags.list_dags(conn, stale=False, limit=None)).items
        return {r.fileloc for r in rows if r.fileloc and not Path(r.fileloc).is_absolute()
                and r.fileloc not in current and not (self.workspace / r.fileloc).exists()}

    async def _mark_stale(self, files: set[str], keep: Iterable[str] = ()) -> None:
        """Mark stale the DAGs of ``files`` other than ``keep``: their file is gone or no
        longer defines them (Airflow's stale DAGs: kept with their history, not listed as
        active, not triggerable; registering them again revives them)."""
        from leoflow.engine.store import dags

        assert self.plane is not None
        if not files:
            return
        async with self.plane.store.connect() as conn:
            rows = (await dags.list_dags(conn, stale=False, limit=None)).items
        kept = set(keep)
        gone = [r.dag_id for r in rows if r.fileloc in files and r.dag_id not in kept]
        if not gone:
            return
        from leoflow.engine.services.assets import forget_dag

        async with self.plane.store.begin() as conn:
            for dag_id in gone:
                await dags.set_stale(conn, dag_id, True)
                await forget_dag(conn, dag_id=dag_id)  # consumes/produces nothing any more
        for dag_id in gone:
            self.plane.scheduler.wake_dag(dag_id)
        log.info("marked stale (their file no longer defines them): %s", ", ".join(gone))

    # -- events --------------------------------------------------------------------------------
    def _emit(self, event: ReloadEvent) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(event)
            except Exception:
                log.exception("a reload listener failed on %s", event.kind)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._listener_done)

    def _listener_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)  # type: ignore[arg-type]
        if not task.cancelled() and task.exception() is not None:
            log.error("a reload listener failed", exc_info=task.exception())


def _line_of_key(path: Path, key: str) -> int | None:
    """The line of a top-level YAML key, to point an environment error at it."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines, start=1):
        if line.startswith(f"{key}:"):
            return number
    return None
