"""ASSETS: asset event → consumer run, through the real path.

One project with two DAGs, as a user writes them with Airflow's names: ``asset_producer``
(one Python task with ``outlets=[Asset("bench_a")]``, run by a real agent and user process)
and ``asset_consumer`` (``schedule=[Asset("bench_a")]``, one EmptyOperator so that the
consumer's runs cost no process and do not load the machine between samples). One control
plane on a SQLite file, as Lite runs. Each sample triggers the producer through
``Operations.trigger_run`` and waits for it to finish; the figures, per producer run:

* report → consumer run: from the producer task's success report reaching the scheduler
  (``Scheduler.report``, wrapped) to the consumer run committed (the scheduler's
  ``run.running`` for it, emitted after the commit of the batch that created it);
* of which waiting: the report queued until the scheduler's worker takes it (the worker is
  busy with an earlier batch, or the event loop with agents' calls);
* of which the batch: from the start of the scheduler batch (wrapped ``Scheduler._process``)
  that applied the success, emitted the event, created the consumer run and started it, to
  its commit;
* store: ``task_instance.end_date`` of the producer's task → ``dag_run.queued_at`` of the
  consumer run (both written by that one transaction, so 0 by construction).

p50 and p95 over ``samples`` producer runs (default 50), after one warm-up run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import Figure

SOURCE = '''\
# ASSETS: a producer with an outlet and a consumer scheduled on it.
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, task

a = Asset("bench_a")

with DAG("asset_producer", schedule=None, start_date=datetime(2026, 1, 1)):
    @task(outlets=[a])
    def make():
        return 1

    make()

with DAG("asset_consumer", schedule=[a], start_date=datetime(2026, 1, 1)):
    EmptyOperator(task_id="use")
'''


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return statistics.median(ordered), p95


def _figure(metric: str, samples: list[float], note: str = "") -> Figure:
    p50, p95 = _quantiles(samples)
    return Figure("ASSETS", metric, "ms", p50, min(samples), max(samples), len(samples),
                  note=f"p95 {p95:.1f} ms" + (f"; {note}" if note else ""))


async def _measure(samples: int) -> dict[str, list[float]]:
    from leoflow.app.controlplane import start_control_plane
    from leoflow.app.settings import Settings
    from leoflow.engine.compiler.compile import compile_project
    from leoflow.engine.environments.manager import EnvironmentManager
    from leoflow.engine.store import runs, task_instances

    with tempfile.TemporaryDirectory(prefix="leoflow-bench-assets-") as tmp:
        root = Path(tmp)
        project = root / "projects" / "assets"
        project.mkdir(parents=True)
        (project / "dag.py").write_text(SOURCE, "utf-8")
        (project / "leoflow.yaml").write_text("dag_id: asset_producer\ndependencies: []\n",
                                              "utf-8")
        env = await EnvironmentManager(root / "home").ensure("asset_producer", None, [])
        compiled = await asyncio.to_thread(compile_project, project, python=str(env.python))
        events: list[tuple[float, str, dict[str, Any]]] = []
        finished: dict[str, asyncio.Future[str]] = {}

        def listen(kind: str, data: dict[str, Any]) -> None:
            events.append((time.perf_counter(), kind, dict(data)))
            future = finished.get(data.get("run_id", ""))
            if kind == "run.finished" and future is not None and not future.done():
                future.set_result(data["state"])

        settings = Settings(home=root / "home",
                            database_url=f"sqlite+aiosqlite:///{root / 'bench.db'}")
        plane = await start_control_plane(settings, listeners=[listen])
        try:
            for document in compiled.documents:
                await plane.operations.register_dag(
                    document, source_code=compiled.source, fileloc=str(compiled.dag_file),
                    paused_on_create=False)
            scheduler = plane.scheduler
            reported: dict[str, float] = {}
            batches: list[tuple[float, float]] = []
            report, process = scheduler.report, scheduler._process

            async def timed_report(event: Any) -> None:
                if event.state == "success":
                    reported[event.ti_id] = time.perf_counter()
                await report(event)

            async def timed_process(batch: Any) -> None:
                started = time.perf_counter()
                await process(batch)
                batches.append((started, time.perf_counter()))

            scheduler.report = timed_report  # looked up on each call by the agent service
            scheduler._process = timed_process
            out: dict[str, list[float]] = {"wall": [], "wait": [], "batch": [], "store": []}
            loop = asyncio.get_running_loop()
            seen_consumers: set[int] = set()
            for n in range(samples + 1):
                run = await plane.operations.trigger_run("asset_producer", triggered_by="cli")
                future = finished.setdefault(run.run_id, loop.create_future())
                if await asyncio.wait_for(future, 120) != "success":
                    raise RuntimeError(f"ASSETS: producer run {run.run_id} did not succeed")
                async with plane.store.connect() as conn:
                    (ti,) = await task_instances.list_for_run(conn, run.id)
                    consumers = [r for r in (await runs.list_runs(
                        conn, dag_id="asset_consumer", limit=None, order="id")).items
                        if r.id not in seen_consumers]
                if len(consumers) != 1:
                    raise RuntimeError(f"ASSETS: {len(consumers)} consumer runs for one event")
                consumer = consumers[0]
                seen_consumers.add(consumer.id)
                committed = next(t for t, kind, d in events if kind == "run.running"
                                 and d.get("run_id") == consumer.run_id)
                if n == 0:
                    continue  # warm-up
                # the batch that emitted it (emits happen inside ``_process``, after the commit)
                batch = next(b for b in batches if b[0] <= committed <= b[1])
                out["wall"].append((committed - reported[ti.id]) * 1000)
                out["wait"].append((batch[0] - reported[ti.id]) * 1000)
                out["batch"].append((committed - batch[0]) * 1000)
                assert consumer.queued_at is not None and ti.end_date is not None
                out["store"].append((consumer.queued_at - ti.end_date).total_seconds() * 1000)
            return out
        finally:
            await plane.stop()


def assets_event_to_run(runs: int, samples: int = 50) -> list[Figure]:
    """ASSETS: p50/p95 of producer success → consumer run over ``samples`` producer runs
    (``runs`` is ignored: one sample is one producer run, and there are ``samples``)."""
    load = os.getloadavg()[0]
    out = asyncio.run(_measure(samples))
    note = f"{os.cpu_count()} cores, load {load:.1f} before"
    return [_figure("success report → consumer run (real)", out["wall"], note),
            _figure("of which waiting for the scheduler", out["wait"]),
            _figure("of which the batch, to its commit", out["batch"]),
            _figure("end_date → queued_at (store)", out["store"], "one transaction")]
