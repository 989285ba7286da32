"""Drive DAGs through the real path and collect everything a run left behind.

``Projects`` builds a project's environment (uv, under the session's LEOFLOW_HOME) and
compiles it with that environment's interpreter, once per session. ``open_plane`` starts a
real control plane (store, scheduler, subprocess executor, agent gRPC service) on a SQLite
file; its ``Harness`` registers compiled DAGs, triggers runs, waits for ``run.finished``
through the scheduler's listener, and returns a ``RunResult``: the run's state, each task
instance's state and try number, each return value, and each try's log records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from leoflow.app.cmd_run import one_off_document
from leoflow.app.controlplane import ControlPlane, start_control_plane
from leoflow.app.settings import Settings
from leoflow.engine.compiler.compile import (
    CompiledProject,
    compile_project,
    load_project_config,
    locate_project,
)
from leoflow.engine.environments.manager import Environment, EnvironmentManager
from leoflow.engine.logs import LogKey, LogRecord
from leoflow.engine.store import runs, task_instances
from leoflow.engine.store.rows import DagRunRow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

Event = tuple[float, str, dict[str, Any]]


@dataclass(frozen=True)
class Prepared:
    """A compiled project and the environment its tasks run in."""

    compiled: CompiledProject
    environment: Environment

    def document(self, dag_id: str | None = None) -> dict[str, Any]:
        docs = self.compiled.documents
        if dag_id is None:
            assert len(docs) == 1, f"{self.compiled.dag_file} defines several DAGs"
            return docs[0]
        return self.compiled.document(dag_id)


class Projects:
    """Environments and compiled projects of one test session, each made once."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._done: dict[Path, Prepared] = {}

    async def prepare(self, path: Path) -> Prepared:
        project_dir, _ = locate_project(path)
        found = self._done.get(project_dir)
        if found is not None:
            return found
        config = load_project_config(project_dir)
        env = await EnvironmentManager(self.home).ensure(
            config.dag_id, config.python_version, config.dependencies)
        compiled = await asyncio.to_thread(compile_project, project_dir, python=str(env.python))
        prepared = self._done[project_dir] = Prepared(compiled, env)
        return prepared


@dataclass(frozen=True)
class TaskResult:
    """One task instance at the end of the run; ``tries`` is its recorded history."""

    state: str | None
    try_number: int
    map_index: int
    tries: tuple[tuple[int, str | None, str | None], ...]  # (try, state, error)

    @property
    def error(self) -> str | None:
        return self.tries[-1][2] if self.tries else None


@dataclass
class RunResult:
    """What one run left: states, return values, logs, and the listener's events."""

    dag_id: str
    run_id: str
    dag_run_id: int
    state: str
    seconds: float
    run: DagRunRow
    tasks: dict[str, TaskResult]
    xcom: dict[str, Any]
    keys: dict[tuple[str, str], Any]  # (task, key) -> value, for every XCom of the run
    logs: dict[str, dict[int, list[LogRecord]]]
    events: list[Event] = field(default_factory=list)

    def states(self) -> dict[str, str | None]:
        return {name: t.state for name, t in self.tasks.items()}

    def lines(self, name: str, try_number: int | None = None,
              streams: tuple[str, ...] = ("stdout", "stderr")) -> list[str]:
        """The log lines of a task's try (the last one by default) from ``streams``."""
        tries = self.logs.get(name, {})
        if not tries:
            return []
        records = tries[try_number if try_number is not None else max(tries)]
        return [r.event for r in records if r.stream in streams]


def ti_name(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


class Harness:
    """A running control plane and what its scheduler reported."""

    def __init__(self, plane: ControlPlane, events: list[Event],
                 changed: list[asyncio.Event]) -> None:
        self.plane = plane
        self.events = events
        self._changed = changed

    async def register(self, prepared: Prepared, dag_id: str | None = None,
                       one_off: bool = True) -> str:
        """Register a DAG (unpaused); ``one_off`` sets its schedule aside as ``leoflow run``
        does, so that only the runs a test triggers exist."""
        document = prepared.document(dag_id)
        if one_off:
            document = one_off_document(document)
        await self.plane.operations.register_dag(
            document, source_code=prepared.compiled.source,
            fileloc=str(prepared.compiled.dag_file), paused_on_create=False)
        return str(document["dag_id"])

    async def trigger(self, dag_id: str, conf: dict[str, Any] | None = None,
                      logical_date: datetime | None = None) -> DagRunRow:
        return await self.plane.operations.trigger_run(
            dag_id, conf=conf or {}, logical_date=logical_date, triggered_by="cli")

    async def wait_event(self, predicate: Callable[[str, dict[str, Any]], bool],
                         timeout: float, since: int = 0) -> Event:
        """The first event (from index ``since``) matching ``predicate``; waits for it."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for event in self.events[seen:]:
                if predicate(event[1], event[2]):
                    return event
            seen = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event within {timeout:g} s; last events: "
                                   f"{[e[1:] for e in self.events[-5:]]}")
            signal = asyncio.Event()
            self._changed.append(signal)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), remaining)
            finally:
                self._changed.remove(signal)

    async def wait_running(self, run: DagRunRow, task_id: str, timeout: float = 30.0,
                           map_index: int = -1) -> str:
        """Wait for a task instance of ``run`` to be running; returns its id."""
        _, _, data = await self.wait_event(
            lambda kind, d: kind == "ti.running" and d.get("run_id") == run.run_id
            and d.get("task_id") == task_id and d.get("map_index", -1) == map_index, timeout)
        return str(data["ti_id"])

    async def wait(self, run: DagRunRow, timeout: float = 60.0) -> str:
        """The run's final state, once the scheduler reported ``run.finished``."""
        _, _, data = await self.wait_event(
            lambda kind, d: kind == "run.finished" and d.get("run_id") == run.run_id, timeout)
        return str(data["state"])

    async def result(self, run: DagRunRow, started: float | None = None,
                     max_log_records: int = 10_000) -> RunResult:
        """Everything the run left behind, read from the store, XCom and the log files
        (the first ``max_log_records`` records of each try's log)."""
        store, xcom, logs = self.plane.store, self.plane.xcom, self.plane.logs
        async with store.connect() as conn:
            row = await runs.get_run_by_id(conn, run.id)
            tis = await task_instances.list_for_run(conn, run.id)
            history = {ti.id: await task_instances.list_tries(conn, run.id, ti.task_id,
                                                              ti.map_index) for ti in tis}
        assert row is not None
        tasks: dict[str, TaskResult] = {}
        values: dict[str, Any] = {}
        records: dict[str, dict[int, list[LogRecord]]] = {}
        for ti in tis:
            name = ti_name(ti.task_id, ti.map_index)
            tasks[name] = TaskResult(
                ti.state, ti.try_number, ti.map_index,
                tuple((h.try_number, h.state, h.error) for h in history[ti.id]))
            found = await xcom.get(run.id, ti.task_id, "return_value", ti.map_index)
            if found is not None:
                values[name] = found.value
            for try_number in range(1, ti.try_number + 1):
                key = LogKey(ti.dag_id, ti.run_id, ti.task_id, try_number=try_number,
                             map_index=ti.map_index)
                lines, _ = await logs.read(key, limit=max_log_records)
                if lines:
                    records.setdefault(name, {})[try_number] = lines
        entries = (await xcom.list(dag_run_id=run.id, limit=None)).items
        keys = {(ti_name(e.task_id, e.map_index), e.key): e.value for e in entries}
        mine = [e for e in self.events if e[2].get("run_id") == run.run_id]
        seconds = time.monotonic() - started if started is not None else 0.0
        return RunResult(dag_id=row.dag_id, run_id=row.run_id, dag_run_id=row.id,
                         state=str(row.state), seconds=seconds, run=row, tasks=tasks,
                         xcom=values, keys=keys, logs=records, events=mine)

    async def run(self, prepared: Prepared, *, dag_id: str | None = None,
                  conf: dict[str, Any] | None = None, logical_date: datetime | None = None,
                  timeout: float = 60.0) -> RunResult:
        """Register, trigger, wait for the end, collect."""
        name = await self.register(prepared, dag_id)
        started = time.monotonic()
        run = await self.trigger(name, conf, logical_date)
        await self.wait(run, timeout)
        return await self.result(run, started)


@contextlib.asynccontextmanager
async def open_plane(home: Path, database_url: str, **options: Any
                     ) -> AsyncIterator[Harness]:
    """A control plane for the block; ``options`` go to ``start_control_plane``.

    The plane is stopped at the end unless the block stopped it already (restart tests).
    """
    events: list[Event] = []
    changed: list[asyncio.Event] = []

    def listen(kind: str, data: dict[str, Any]) -> None:
        events.append((time.monotonic(), kind, dict(data)))
        for signal in changed:
            signal.set()

    extra = list(options.pop("listeners", ()))
    plane = await start_control_plane(Settings(home=home, database_url=database_url),
                                      listeners=[listen, *extra], **options)
    harness = Harness(plane, events, changed)
    try:
        yield harness
    finally:
        if not plane.stopped:
            await plane.stop()


async def run_project(projects: Projects, database_url: str, path: Path, **kwargs: Any
                      ) -> RunResult:
    """One run of a project's DAG on a fresh control plane (the common case)."""
    prepared = await projects.prepare(path)
    async with open_plane(projects.home, database_url) as harness:
        return await harness.run(prepared, **kwargs)
