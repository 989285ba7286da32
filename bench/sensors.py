"""W5 sensors: how many deferred time sensors one control-plane process holds at once.

Each measurement runs in a fresh interpreter (``python -m bench.sensors <mode> <N>``, one
JSON line out), so that its peak RSS is its own. Modes:

* ``full``: the scheduler path. A real store (SQLite file), a real ``Scheduler`` with its
  trigger runner and the wall clock; N runs of a DAG whose one task is a start-from-trigger
  time sensor, each due at its own known moment (``{{ params.at }}``, spread over a window
  that begins once every sensor is deferred: 10 s, or longer so that no more than
  ``FULL_RATE`` fire per second, since this measures how many wait, not how fast a burst
  is applied). Lateness = the sensor's ``end_date`` (when
  the scheduler recorded its success) minus its moment. The window begins after an
  estimate of the setup (15 s + 10 ms per sensor; ``BENCH_W5_BUDGET=<seconds>`` on a
  loaded machine); ``fired_early`` > 0 says the setup overran it and the figure is void.
* ``runner``: the trigger runner alone (no database rows, no scheduler): N time triggers
  in its heap, lateness = when the runner handed the event on minus the moment.
* ``idle``: the scheduler path with N sensors deferred far in the future; CPU seconds the
  process uses over ``IDLE_SECONDS`` of waiting.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.stats import Figure, summarize

WINDOW = 10.0  # seconds over which the N moments are spread (at least)
FULL_RATE = 200.0  # firings per second on the scheduler path: the window grows with N
IDLE_SECONDS = 10.0
RUNNER_N = 100_000
FULL_N = 2_000  # ~200 firings/s over WINDOW: below the rate the scheduler applies events
IDLE_N = 10_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _document(dag_id: str, n: int) -> dict[str, Any]:
    from leoflow.engine.spec.canonical import with_content_hash

    return with_content_hash({
        "schema_version": 1, "dag_id": dag_id, "schedule": {"kind": "none"},
        "max_active_runs": n + 1, "params": {"at": {"default": "2100-01-01T00:00:00+00:00"}},
        "tasks": [{"task_id": "wait", "operator": "sensor", "upstream": [],
                   "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}},
                   "sensor": {"mode": "poke", "poke_interval": 60.0, "timeout": None,
                              "soft_fail": False, "exponential_backoff": False,
                              "max_wait": None,
                              "trigger": {"kind": "time",
                                          "kwargs": {"template": "{{ params.at }}"}}}}]})


class _NoExecutor:
    """Nothing runs a process in this workload (time sensors start from their trigger)."""

    name = "none"

    def set_callback(self, callback: Any) -> None:
        pass

    async def start(self, launch: Any, task: Any) -> None:
        raise AssertionError(f"{launch.task_id} reached an executor")

    async def cancel(self, ti_id: str, reason: str) -> None:
        pass

    async def reconcile(self, known: Any) -> None:
        pass

    async def close(self) -> None:
        pass


async def _defer_many(store: Any, scheduler: Any, n: int, moments: list[datetime]) -> None:
    """Register the DAG, create N runs (one moment each) in bulk, let the scheduler defer
    every sensor, and wait until all N are deferred."""
    from leoflow.engine.services import Operations
    from leoflow.engine.store import dags, runs

    ops = Operations(store, scheduler)
    await ops.register_dag(_document("w5", n), paused_on_create=False)
    async with store.connect() as conn:
        version = (await dags.get_dag(conn, "w5")).current_version_id
    now = datetime.now(UTC)
    ids: list[int] = []
    for start in range(0, n, 2000):
        async with store.begin() as conn:
            for i in range(start, min(n, start + 2000)):
                run = await runs.create_run(
                    conn, dag_id="w5", run_id=f"w5_{i}", run_type="manual",
                    dag_version_id=version, run_after=now, triggered_by="rest_api", now=now,
                    conf={"at": moments[i].isoformat()})
                ids.append(run.id)
    for run_id in ids:
        scheduler.wake_run(run_id)
    await scheduler.idle(timeout=max(60.0, n / 10))  # n / 50 s was short on a loaded machine


async def _full(n: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from leoflow.engine.scheduler.loop import Scheduler
    from leoflow.engine.services import assets
    from leoflow.engine.store import Store, tables

    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp}/w5.db", auto_migrate=True)
        scheduler = Scheduler(store, {"none": _NoExecutor()}, assets=assets, parallelism=32)
        if os.environ.get("BENCH_W5_NO_FREEZE"):  # the figure without gc.freeze()
            scheduler.long_lived.step = sys.maxsize
        await scheduler.start()
        setup_started = time.monotonic()
        # The moments are fixed before the runs exist (they are the runs' conf), so the
        # window starts after a generous estimate of the setup; the gap is measured idle.
        budget = 15.0 + n * 0.01
        if os.environ.get("BENCH_W5_BUDGET"):  # seconds, on a loaded machine
            budget = float(os.environ["BENCH_W5_BUDGET"])
        window = max(WINDOW, n / FULL_RATE)
        start = datetime.now(UTC) + timedelta(seconds=budget)
        moments = [start + timedelta(seconds=window * i / n) for i in range(n)]
        await _defer_many(store, scheduler, n, moments)
        setup = time.monotonic() - setup_started
        held = len(scheduler.triggers)
        early = scheduler.triggers.fired
        # Idle CPU: every sensor waits and none is due yet (the gap before the window).
        gap = (start - datetime.now(UTC)).total_seconds() - 2.0
        idle_cpu = None
        if gap >= 3.0:
            quiet = min(gap, IDLE_SECONDS)
            cpu0 = time.process_time()
            await asyncio.sleep(quiet)
            idle_cpu = 100 * (time.process_time() - cpu0) / quiet
        deadline = time.monotonic() + budget + window + 120
        ti = tables.task_instance
        policy = scheduler.long_lived
        # Whether the freeze engaged, read as the window starts (after it, the policy may
        # have given the state back already).
        frozen_at_start, freezes0 = gc.get_freeze_count(), policy.freezes
        pauses = _GcPauses()
        sampler = _Sampler() if os.environ.get("BENCH_W5_SAMPLE") else None
        cpu0 = time.process_time()
        # Counted, not selected: the rows are read once at the end, so that the wait loop
        # (same process, same event loop as the scheduler) adds no allocation per firing.
        count = select(func.count()).select_from(ti).where(ti.c.state == "success")
        while True:
            async with store.connect() as conn:
                done_n = (await conn.execute(count)).scalar_one()
            if done_n >= n or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        window_cpu = time.process_time() - cpu0
        pauses.close()
        hot = sampler.close() if sampler else None
        async with store.connect() as conn:
            done = (await conn.execute(select(ti.c.run_id, ti.c.end_date).where(
                ti.c.state == "success"))).all()
        at = {f"w5_{i}": m for i, m in enumerate(moments)}
        late = [(end - at[run_id]).total_seconds() for run_id, end in done]
        freezes, unfreezes = policy.freezes, policy.unfreezes
        await scheduler.stop()
        await store.close()
    return {"mode": "full", "n": n, "window_s": window, "held": held, "fired_early": early,
            "done": len(done),
            "idle_cpu_percent": idle_cpu,
            "setup_s": setup, "p50": _percentile(late, 0.5), "p99": _percentile(late, 0.99),
            "max": max(late), "rss_mb": _rss_mb(), "window_cpu_s": window_cpu,
            "frozen_objects_at_window_start": frozen_at_start,
            "freezes_before_window": freezes0, "freezes": freezes, "unfreezes": unfreezes,
            "gc_full_collections": pauses.count, "gc_full_max_s": pauses.longest,
            "gc_full_total_s": pauses.total, **({"hot": hot} if hot else {})}


class _Sampler:
    """``BENCH_W5_SAMPLE=1``: where the event loop's thread spends the window, sampled
    every 5 ms from a thread (the innermost frames of the project's own code)."""

    def __init__(self) -> None:
        import collections
        import threading

        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._main = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            frame = sys._current_frames().get(self._main)
            self.samples += 1
            seen: set[str] = set()
            while frame is not None:
                code = frame.f_code
                if "leoflow" in code.co_filename or "sqlalchemy" in code.co_filename:
                    key = f"{Path(code.co_filename).name}:{code.co_name}"
                    if key not in seen:  # inclusive: each function once per sample
                        seen.add(key)
                        self.counts[key] += 1
                frame = frame.f_back

    def close(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        return {"samples": self.samples,
                "top": [[k, v] for k, v in self.counts.most_common(40)]}


class _GcPauses:
    """Times Python's full (generation 2) collections while the sensors fire."""

    def __init__(self) -> None:
        self.count, self.longest, self.total = 0, 0.0, 0.0
        self._started = 0.0
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            took = time.perf_counter() - self._started
            self.count += 1
            self.total += took
            self.longest = max(self.longest, took)

    def close(self) -> None:
        gc.callbacks.remove(self._seen)


async def _runner(n: int) -> dict[str, Any]:
    from leoflow.engine.clock import SystemClock
    from leoflow.engine.store.rows import TriggerRow
    from leoflow.engine.triggers import TriggerEvent, TriggerRunner

    due: dict[int, float] = {}
    late: list[float] = []

    def fired(event: TriggerEvent) -> None:
        late.append(time.time() - due[event.trigger_id])

    runner = TriggerRunner(None, SystemClock(), on_event=fired)  # type: ignore[arg-type]
    runner.running = True  # no store: nothing to load (start() would read the rows)
    started = time.monotonic()
    begin = datetime.now(UTC) + timedelta(seconds=5 + n / 50_000)
    created = datetime.now(UTC)
    for i in range(n):
        moment = begin + timedelta(seconds=WINDOW * i / n)
        due[i + 1] = moment.timestamp()
        row = TriggerRow(id=i + 1, classpath="time", kwargs={"moment": moment.isoformat()},
                         created_date=created, triggerer_id=None, task_instance_id=f"ti{i}",
                         try_number=1, due_at=moment, timeout_at=None, timeout_kind=None)
        runner.add(row, dag_id="w5", run_id=f"w5_{i}", task_id="wait", map_index=-1,
                   dag_run_id=i + 1)
    setup = time.monotonic() - started
    held = len(runner)
    rss = _rss_mb()
    deadline = time.monotonic() + 5 + n / 50_000 + WINDOW + 60
    while len(late) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await runner.stop()
    return {"mode": "runner", "n": n, "held": held, "done": len(late), "setup_s": setup,
            "p50": _percentile(late, 0.5), "p99": _percentile(late, 0.99), "max": max(late),
            "rss_mb": max(rss, _rss_mb())}


async def _idle(n: int) -> dict[str, Any]:
    from leoflow.engine.scheduler.loop import Scheduler
    from leoflow.engine.services import assets
    from leoflow.engine.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp}/w5.db", auto_migrate=True)
        scheduler = Scheduler(store, {"none": _NoExecutor()}, assets=assets, parallelism=32)
        await scheduler.start()
        far = datetime.now(UTC) + timedelta(days=1)
        await _defer_many(store, scheduler, n, [far] * n)
        held = len(scheduler.triggers)
        await asyncio.sleep(1.0)  # let the last writes settle
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        rss = _rss_mb()
        await scheduler.stop()
        await store.close()
    return {"mode": "idle", "n": n, "held": held, "cpu_s": cpu, "wall_s": wall,
            "cpu_percent": 100 * cpu / wall, "rss_mb": rss}


def _child(mode: str, n: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.sensors", mode, str(n)],
                         capture_output=True, text=True, timeout=900,
                         cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        raise RuntimeError(f"bench.sensors {mode} {n} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def w5_sensors(runs: int, *, full_n: int = FULL_N, runner_n: int = RUNNER_N,
               idle_n: int = IDLE_N) -> list[Figure]:
    """The W5 figures; each sample is one fresh process."""
    figures: list[Figure] = []
    for mode, n in (("full", full_n), ("runner", runner_n)):
        samples = [_child(mode, n) for _ in range(runs)]
        what = "scheduler path" if mode == "full" else "trigger runner alone"
        note = f"held {min(s['held'] for s in samples):,}/{n:,}; " \
               f"fired {min(s['done'] for s in samples):,}"
        figures.append(summarize("W5 sensors", f"{what} N={n:,} lateness p99", "s",
                                 [s["p99"] for s in samples], note))
        figures.append(summarize("W5 sensors", f"{what} N={n:,} peak RSS", "MB",
                                 [s["rss_mb"] for s in samples]))
        figures.append(summarize("W5 sensors", f"{what} N={n:,} setup", "s",
                                 [s["setup_s"] for s in samples]))
    idle = [_child("idle", idle_n) for _ in range(runs)]
    figures.append(summarize("W5 sensors", f"idle CPU, {idle_n:,} waiting", "%",
                             [s["cpu_percent"] for s in idle],
                             f"over {IDLE_SECONDS:g} s; RSS "
                             f"{max(s['rss_mb'] for s in idle):.0f} MB"))
    return figures


def main(argv: list[str]) -> int:
    mode, n = argv[0], int(argv[1])
    result = asyncio.run({"full": _full, "runner": _runner, "idle": _idle}[mode](n))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
