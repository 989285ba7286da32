"""SCHED: the scheduler's decision latency, and W6's trigger → first task handed out.

Decision latency is the time from an executor reporting a task's success to the scheduler
calling ``start`` on the executor for the next task of a 200-task chain. It is measured in
process, with ``time.perf_counter`` stamps taken by an executor double local to this file
(it runs nothing: every task succeeds as soon as it is started), on a real store: a SQLite
file and a PostgreSQL server started with pgserver (skipped, with a note, when it cannot
start). W6's second figure registers a 1,000-task lattice (10 wide, 100 deep, every task of a
layer depending on every task of the layer above) and times ``trigger_run`` → the first
``start`` call.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.stats import Figure, summarize

CHAIN = 200
LATTICE_WIDTH, LATTICE_DEPTH = 10, 100


class _StampingExecutor:
    """BENCH DOUBLE: stamps each ``start`` and each success report; runs nothing."""

    name = "bench"

    def __init__(self) -> None:
        self.callback: Any = None
        self.started_at: dict[str, float] = {}
        self.reported_at: dict[str, float] = {}
        self.first_start = asyncio.Event()
        self.auto = True
        self._jobs: set[asyncio.Task[None]] = set()

    def set_callback(self, callback: Any) -> None:
        self.callback = callback

    async def start(self, launch: Any, task: Any) -> None:
        self.started_at.setdefault(launch.task_id, time.perf_counter())
        self.first_start.set()
        if self.auto:
            job = asyncio.create_task(self._succeed(launch))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)

    async def _succeed(self, launch: Any) -> None:
        from leoflow.engine.executors.base import ExecutorEvent

        await self.callback(ExecutorEvent(launch.ti_id, launch.try_number, "running"))
        self.reported_at[launch.task_id] = time.perf_counter()
        await self.callback(ExecutorEvent(launch.ti_id, launch.try_number, "success"))

    async def cancel(self, ti_id: str, reason: str) -> None:
        return None

    async def reconcile(self, known: Sequence[Any]) -> None:
        return None

    async def close(self) -> None:
        for job in list(self._jobs):
            job.cancel()


def _document(dag_id: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    from leoflow.engine.spec.canonical import with_content_hash

    return with_content_hash({"schema_version": 1, "dag_id": dag_id,
                              "schedule": {"kind": "none"}, "max_active_tasks": 64,
                              "tasks": tasks})


def chain_document(length: int = CHAIN) -> dict[str, Any]:
    tasks = [{"task_id": f"t{i:03d}", "operator": "python",
              "upstream": [f"t{i - 1:03d}"] if i else [],
              "inputs": {"args": [], "kwargs": {}}} for i in range(length)]
    return _document("sched_chain", tasks)


def lattice_document(width: int = LATTICE_WIDTH, depth: int = LATTICE_DEPTH) -> dict[str, Any]:
    tasks = []
    for layer in range(depth):
        above = [f"t_{layer - 1}_{c}" for c in range(width)] if layer else []
        tasks.extend({"task_id": f"t_{layer}_{col}", "operator": "python", "upstream": above,
                      "inputs": {"args": [], "kwargs": {}}} for col in range(width))
    return _document("sched_lattice", tasks)


async def _with_scheduler(url: str, body: Callable[..., Any]) -> Any:
    from leoflow.engine.scheduler.loop import Scheduler
    from leoflow.engine.services import Operations, assets
    from leoflow.engine.store import Store

    store = await Store.open(url, auto_migrate=True)
    executor = _StampingExecutor()
    scheduler = Scheduler(store, {"bench": executor}, assets=assets)
    await scheduler.start()
    try:
        return await body(store, executor, scheduler, Operations(store, scheduler))
    finally:
        await executor.close()
        await scheduler.stop()
        await store.close()


async def _chain_latencies(url: str, length: int) -> list[float]:
    """One chain run; the per-task decision latencies in milliseconds."""
    async def body(store: Any, executor: _StampingExecutor, scheduler: Any, ops: Any) -> Any:
        from leoflow.engine.store import runs

        document = chain_document(length)
        await ops.register_dag(document, paused_on_create=False)
        run = await ops.trigger_run(document["dag_id"])
        deadline = time.monotonic() + 120
        while True:
            await scheduler.idle(timeout=60)
            async with store.connect() as conn:
                state = (await runs.get_run_by_id(conn, run.id)).state
            if state in ("success", "failed") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        if state != "success":
            raise RuntimeError(f"the bench chain ended {state}")
        ids = [t["task_id"] for t in document["tasks"]]
        return [(executor.started_at[nxt] - executor.reported_at[cur]) * 1000
                for cur, nxt in itertools.pairwise(ids)]

    return await _with_scheduler(url, body)


async def _lattice_first_task(url: str) -> float:
    """Trigger a registered 1,000-task lattice; milliseconds until the first ``start``."""
    async def body(store: Any, executor: _StampingExecutor, scheduler: Any, ops: Any) -> Any:
        executor.auto = False
        document = lattice_document()
        await ops.register_dag(document, paused_on_create=False)
        await scheduler.idle(timeout=60)
        started = time.perf_counter()
        await ops.trigger_run(document["dag_id"])
        await asyncio.wait_for(executor.first_start.wait(), 60)
        return (executor.started_at["t_0_0"] - started) * 1000

    return await _with_scheduler(url, body)


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


@contextmanager
def _sqlite_url() -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite+aiosqlite:///{(Path(tmp) / 'bench.db').as_posix()}"


@contextmanager
def _postgres_server() -> Any:
    """A throwaway PostgreSQL (pgserver); yields a factory of fresh database URLs."""
    import uuid

    import pgserver

    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(Path(tmp) / "data", cleanup_mode="stop")
        try:
            server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
                        " SELECT pg_reload_conf();")
            info = server.get_postmaster_info()

            @contextmanager
            def database() -> Any:
                name = f"bench_{uuid.uuid4().hex[:12]}"
                server.psql(f'CREATE DATABASE "{name}";')
                try:
                    if info.socket_dir is not None:
                        yield (f"postgresql+asyncpg://postgres@/{name}"
                               f"?host={info.socket_dir}&port={info.port}")
                    else:
                        yield f"postgresql+asyncpg://postgres@{info.hostname}:{info.port}/{name}"
                finally:
                    server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')

            yield database
        finally:
            server.cleanup()


def _measure(backend: str, new_url: Callable[[], AbstractContextManager[str]], runs: int,
             chain: int) -> list[Figure]:
    medians: list[float] = []
    p99s: list[float] = []
    firsts: list[float] = []
    every: list[float] = []
    for _ in range(runs):
        with new_url() as url:
            latencies = asyncio.run(_chain_latencies(url, chain))
        every.extend(latencies)
        medians.append(statistics.median(latencies))
        p99s.append(percentile(latencies, 99))
        with new_url() as url:
            firsts.append(asyncio.run(_lattice_first_task(url)))
    note = (f"{chain}-task chain; pooled over runs: median {statistics.median(every):.2f} ms, "
            f"p99 {percentile(every, 99):.2f} ms")
    return [
        summarize(f"SCHED {backend}", "done → next start, median", "ms", medians, note),
        summarize(f"SCHED {backend}", "done → next start, p99", "ms", p99s),
        summarize(f"W6 {backend}", "trigger → first task (1,000 tasks)", "ms", firsts),
    ]


def scheduler_latency(runs: int, *, chain: int = CHAIN, postgres: bool = True) -> list[Figure]:
    """The SCHED workload: decision latency on SQLite and PostgreSQL, and W6's trigger figure."""
    figures = _measure("sqlite", _sqlite_url, runs, chain)
    if not postgres:
        return figures
    with ExitStack() as stack:
        try:
            database = stack.enter_context(_postgres_server())
        except Exception as exc:  # pgserver missing or unable to start here
            figures.append(Figure("SCHED postgres", "skipped", "", 0.0, 0.0, 0.0, 0,
                                  note=f"PostgreSQL could not start: {exc}"))
            return figures
        figures.extend(_measure("postgres", database, runs, chain))
    return figures
