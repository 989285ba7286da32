"""W1 chain20, W2 fanout100 and W8 xcom (BENCH.md) through the real path, and where a task's
time goes (PHASES).

Real path: the DAG project is generated in a temporary folder, its uv environment built and
the project compiled (neither is timed), and one control plane is started on a SQLite file
with the scheduler, the subprocess executor and the agent gRPC service, as ``leoflow run``
and Lite use them. Each sample triggers a run through ``Operations.trigger_run`` (what the
API calls) and stops the clock when the scheduler reports the run's terminal state
(``run.finished``, emitted after the commit that the API would read). One run before the
samples warms the OS caches (interpreter and packages read from disk) and is not counted.
The final XCom of every run is checked, so a figure is never that of a broken run.

PHASES runs a chain whose tasks print a wall-clock stamp first thing, and splits each task's
time into: the scheduler's decision (the upstream's final report reaching the scheduler →
``start`` on the executor: one transaction that records the end, evaluates the run and
queues the next task), starting the agent, the agent's start-up with Authenticate (whose
answer carries the task; until its "running" log line), the user process's start-up
(interpreter, SDK, DAG import, until the callable runs), the callable to the agent's last
line (the result over the channel), and the log flush and ReportState (which carries the
XComs) until the report reaches the scheduler. The stamps come from wrappers around
``executor.start`` and ``scheduler.report`` and from the log records' timestamps (wall
clock, one machine). It also times the agent's and the task runner's imports in a fresh
interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import Figure, summarize

CHAIN = '''\
# W1 chain{n}: {n} Python tasks in a line; each returns a small int that the next one
# receives as its argument (XCom) and increments.
from leoflow import DAG, task

with DAG("{dag_id}", schedule=None):
    @task
    def step(x: int) -> int:
        {stamp}return x + 1

    value = step(0)
    for _ in range({n} - 1):
        value = step(value)
'''

STAMP = 'print(f"stamp {__import__(\'time\').time()!r}")\n        '

FANOUT = '''\
# W2 fanout{n}: one task returns a list of {n} ints; {n} mapped tasks each square one; one
# task sums the results.
from leoflow import DAG, task

with DAG("{dag_id}", schedule=None):
    @task
    def numbers() -> list[int]:
        return list(range({n}))

    @task
    def square(x: int) -> int:
        return x * x

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    total(square.expand(x=numbers()))
'''

XCOM = '''\
# W8 xcom: a task returns a {kb} KB JSON value that {readers} downstream tasks read.
from leoflow import DAG, task

with DAG("{dag_id}", schedule=None):
    @task
    def produce() -> list:
        # {rows} records of ~{record} bytes of compact JSON each (a list, not a dict: a
        # returned dict would also be pushed key by key, as multiple_outputs)
        return [{{"id": i, "name": f"row-{{i:08d}}", "value": i / 8}} for i in range({rows})]

    @task
    def read(data: list) -> int:
        return len(data)

    data = produce()
    for k in range({readers}):
        read.override(task_id=f"read_{{k}}")(data)
'''

# compact JSON of one W8 record, e.g. {"id":123,"name":"row-00000123","value":15.375}
XCOM_RECORD_BYTES = 48


def chain_source(n: int, dag_id: str, stamp: bool = False) -> str:
    return CHAIN.format(n=n, dag_id=dag_id, stamp=STAMP if stamp else "")


def fanout_source(n: int, dag_id: str) -> str:
    return FANOUT.format(n=n, dag_id=dag_id)


def xcom_source(kb: int, readers: int, dag_id: str) -> str:
    rows = kb * 1024 // XCOM_RECORD_BYTES
    return XCOM.format(kb=kb, readers=readers, dag_id=dag_id, rows=rows,
                       record=XCOM_RECORD_BYTES)


def write_project(root: Path, dag_id: str, source: str,
                  dependencies: tuple[str, ...] = ()) -> Path:
    project = root / dag_id
    project.mkdir(parents=True, exist_ok=True)
    (project / "dag.py").write_text(source, "utf-8")
    listed = "".join(f'\n  - "{d}"' for d in dependencies) if dependencies else " []"
    (project / "leoflow.yaml").write_text(f"dag_id: {dag_id}\ndependencies:{listed}\n",
                                          "utf-8")
    return project


@dataclass
class Bench:
    """One control plane with one registered DAG, and what its scheduler reported."""

    plane: Any
    dag_id: str
    events: list[tuple[float, float, str, dict[str, Any]]] = field(default_factory=list)
    done: dict[str, asyncio.Future[str]] = field(default_factory=dict)

    def listen(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((time.perf_counter(), time.time(), kind, dict(data)))
        if kind == "run.finished":
            future = self.done.get(data.get("run_id", ""))
            if future is not None and not future.done():
                future.set_result(data["state"])

    async def run_once(self, conf: dict[str, Any] | None = None, timeout: float = 300.0
                       ) -> tuple[float, Any]:
        """Trigger a run; seconds from the trigger call to ``run.finished``, and the run."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        run = await self.plane.operations.trigger_run(self.dag_id, conf=conf or {},
                                                      triggered_by="cli")
        future = self.done.setdefault(run.run_id, loop.create_future())
        state = await asyncio.wait_for(future, timeout)
        finished = next(t for t, _, kind, d in reversed(self.events)
                        if kind == "run.finished" and d.get("run_id") == run.run_id)
        if state != "success":
            raise RuntimeError(f"bench run {run.run_id} of {self.dag_id} ended {state}")
        return finished - started, run

    async def value(self, run: Any, task_id: str, map_index: int = -1) -> Any:
        found = await self.plane.xcom.get(run.id, task_id, "return_value", map_index)
        return None if found is None else found.value


@contextlib.asynccontextmanager
async def bench_plane(source: str, dag_id: str, *, home: Path | None = None,
                      dependencies: tuple[str, ...] = (), **options: Any
                      ) -> AsyncIterator[Bench]:
    """Generate, build, compile and register a DAG on a new control plane (not timed);
    ``dependencies`` are the DAG environment's packages (the real Airflow for SIDEAF)."""
    from leoflow.app.controlplane import start_control_plane
    from leoflow.app.settings import Settings
    from leoflow.engine.compiler.compile import compile_project
    from leoflow.engine.environments.manager import EnvironmentManager

    with tempfile.TemporaryDirectory(prefix="leoflow-bench-") as tmp:
        root = Path(tmp)
        home = home or root / "home"
        project = write_project(root / "projects", dag_id, source, dependencies)
        env = await EnvironmentManager(home).ensure(dag_id, None, list(dependencies))
        compiled = await asyncio.to_thread(compile_project, project, python=str(env.python))
        settings = Settings(home=home, database_url=f"sqlite+aiosqlite:///{root / 'bench.db'}")
        bench = Bench(plane=None, dag_id=dag_id)
        bench.plane = await start_control_plane(settings, listeners=[bench.listen], **options)
        try:
            await bench.plane.operations.register_dag(
                compiled.documents[0], source_code=compiled.source,
                fileloc=str(compiled.dag_file), paused_on_create=False)
            yield bench
        finally:
            await bench.plane.stop()


async def _samples(bench: Bench, runs: int, check: Callable[[Any], Any]) -> list[float]:
    await check((await bench.run_once())[1])  # warm-up, not counted
    samples = []
    for _ in range(runs):
        seconds, run = await bench.run_once()
        await check(run)
        samples.append(seconds)
    return samples


def w1_chain(runs: int, length: int = 20) -> list[Figure]:
    """W1 chain20: wall time trigger → success; per-task overhead = wall / length."""
    load = os.getloadavg()[0]
    async def measure() -> list[float]:
        async with bench_plane(chain_source(length, "w1_chain"), "w1_chain") as bench:
            async def check(run: Any) -> None:
                last = "step" if length == 1 else f"step__{length - 1}"
                value = await bench.value(run, last)
                if value != length:
                    raise RuntimeError(f"W1: the last task returned {value}, not {length}")

            return await _samples(bench, runs, check)

    samples = asyncio.run(measure())
    name = f"W1 chain{length}"
    return [summarize(name, "trigger → success (real path)", "s", samples, note=_cores(load)),
            summarize(name, f"per task (wall / {length})", "ms",
                      [s / length * 1000 for s in samples])]


def w2_fanout(runs: int, width: int = 100) -> list[Figure]:
    """W2 fanout100: one list → ``width`` mapped squares → one sum."""
    load = os.getloadavg()[0]
    async def measure() -> list[float]:
        async with bench_plane(fanout_source(width, "w2_fanout"), "w2_fanout") as bench:
            async def check(run: Any) -> None:
                expected = sum(i * i for i in range(width))
                value = await bench.value(run, "total")
                if value != expected:
                    raise RuntimeError(f"W2: total returned {value}, not {expected}")

            return await _samples(bench, runs, check)

    samples = asyncio.run(measure())
    return [summarize(f"W2 fanout{width}", "trigger → success (real path)", "s", samples,
                      note=_cores(load) + ", max_active_tasks 16, parallelism 32 (defaults)")]


def w8_xcom(runs: int, kb: int = 200, readers: int = 10) -> list[Figure]:
    """W8 xcom: a ``kb`` KB value read by ``readers`` tasks; wall time and bytes stored."""
    load = os.getloadavg()[0]
    stored: list[float] = []

    async def measure() -> list[float]:
        from leoflow.engine.spec.canonical import canonical_json

        async with bench_plane(xcom_source(kb, readers, "w8_xcom"), "w8_xcom") as bench:
            async def check(run: Any) -> None:
                rows = kb * 1024 // XCOM_RECORD_BYTES
                values = [await bench.value(run, f"read_{k}") for k in range(readers)]
                if values != [rows] * readers:
                    raise RuntimeError(f"W8: the readers returned {values}")
                entries = (await bench.plane.xcom.list(dag_run_id=run.id, limit=None)).items
                stored.append(sum(len(canonical_json(e.value).encode()) for e in entries))

            return await _samples(bench, runs, check)

    samples = asyncio.run(measure())
    name = f"W8 xcom{kb}k"
    return [summarize(name, f"trigger → success ({readers} readers)", "s", samples,
                      note=_cores(load)),
            summarize(name, "XCom bytes stored per run", "KB",
                      [b / 1024 for b in stored[1:]] or [b / 1024 for b in stored])]


# -- where a task's time goes -------------------------------------------------------------

PHASES = (
    ("decide", "scheduler: upstream's report → next start"),
    ("spawn", "executor.start: token + agent process"),
    ("agent", "agent: start-up, Authenticate with the task"),
    ("user_boot", "user process: start-up, SDK, DAG import"),
    ("user_end", "callable → result over the channel"),
    ("report", "agent: logs flush, ReportState with the XComs"),
)


def phases(runs: int, length: int = 20) -> list[Figure]:
    """PHASES: each task of a chain split into the steps of its life, in milliseconds."""
    load = os.getloadavg()[0]
    async def measure() -> dict[str, list[float]]:
        async with bench_plane(chain_source(length, "phases", stamp=True), "phases") as bench:
            spawns: dict[str, tuple[float, float]] = {}
            reported: dict[str, float] = {}
            executor = bench.plane.subprocess_executor
            start = executor.start

            async def timed_start(launch: Any, task: Any) -> None:
                entered = time.time()
                await start(launch, task)
                spawns[launch.ti_id] = (entered, time.time())

            executor.start = timed_start  # instance attribute: what the scheduler calls
            scheduler = bench.plane.scheduler
            report = scheduler.report

            async def timed_report(event: Any) -> None:
                if event.state in ("success", "failed"):
                    reported[event.ti_id] = time.time()
                await report(event)

            scheduler.report = timed_report  # the agent service looks it up on each call
            parts: dict[str, list[float]] = {name: [] for name, _ in PHASES}
            await bench.run_once()  # warm-up
            for _ in range(runs):
                _, run = await bench.run_once()
                for name, values in (await _split(bench, run, spawns, reported)).items():
                    parts[name].extend(values)
            return parts

    parts = asyncio.run(measure())
    figures = [summarize("PHASES", f"{name}: {label}", "ms", parts[name])
               for name, label in PHASES if parts[name]]
    totals = [sum(v) for v in zip(*(parts[n] for n, _ in PHASES), strict=True)]
    figures.append(summarize("PHASES", "sum: one task, end to end", "ms", totals,
                             note=_cores(load)))
    figures.extend(_startup_costs(runs))
    return figures


def _startup_costs(runs: int) -> list[Figure]:
    """What the agent's and the runner's imports cost in a fresh interpreter."""
    import subprocess
    import sys

    def timed(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return (time.perf_counter() - started) * 1000

    bare, agent, runner = [], [], []
    for _ in range(max(runs, 3)):
        bare.append(min(timed("pass") for _ in range(3)))
        agent.append(min(timed("import leoflow.agent.agent") for _ in range(3)) - bare[-1])
        runner.append(min(timed("import leoflow.sdk.task_runner") for _ in range(3))
                      - bare[-1])
    return [summarize("PHASES", "of which: a bare interpreter starts", "ms", bare),
            summarize("PHASES", "of which: the agent's imports", "ms", agent),
            summarize("PHASES", "of which: the task runner's imports", "ms", runner)]


async def _split(bench: Bench, run: Any, spawns: dict[str, tuple[float, float]],
                 reported: dict[str, float]) -> dict[str, list[float]]:
    """The phases of each task of one run (tasks after the first), in ms."""
    from leoflow.engine.logs import LogKey
    from leoflow.engine.store import task_instances

    async with bench.plane.store.connect() as conn:
        tis = await task_instances.list_for_run(conn, run.id)
    order = sorted(tis, key=lambda ti: spawns[ti.id][0])
    parts: dict[str, list[float]] = {name: [] for name, _ in PHASES}
    for previous, ti in itertools.pairwise(order):
        records, _ = await bench.plane.logs.read(
            LogKey(ti.dag_id, ti.run_id, ti.task_id, try_number=1, map_index=ti.map_index))
        stamps = _log_stamps(records)
        if stamps is None:
            continue
        running, user_first, agent_end = stamps
        entered, spawned = spawns[ti.id]
        steps = {
            "decide": entered - reported[previous.id],
            "spawn": spawned - entered,
            "agent": running - spawned,
            "user_boot": user_first - running,
            "user_end": agent_end - user_first,
            "report": reported[ti.id] - agent_end,
        }
        for name, seconds in steps.items():
            parts[name].append(seconds * 1000)
    return parts


def _log_stamps(records: list[Any]) -> tuple[float, float, float] | None:
    """(user process started, callable began, agent's last line) from a try's log."""
    from datetime import datetime

    running = user_first = agent_end = None
    for record in records:
        if record.stream == "agent" and record.event.startswith("running ") and not running:
            running = datetime.fromisoformat(record.timestamp).timestamp()
        elif record.stream == "stdout" and record.event.startswith("stamp "):
            user_first = float(record.event.split()[1])
        elif record.stream == "agent" and record.event.startswith("task success after "):
            agent_end = datetime.fromisoformat(record.timestamp).timestamp()
    if running is None or user_first is None or agent_end is None:
        return None
    return running, user_first, agent_end


def _cores(load: float) -> str:
    """The machine's cores and its load (1-minute average) before the workload started: the
    figures of a busy machine are not those of an idle one."""
    return f"{os.cpu_count()} cores, load {load:.1f} before"

