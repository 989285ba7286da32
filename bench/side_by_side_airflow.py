"""SIDEAF: a 5-task chain of a real-Airflow DAG (runtime "airflow"), its user processes
started the normal way and forked from the DAG version's zygote (``LEOFLOW_ZYGOTE``).

Each task of the chain runs with the real Airflow's task runner in a DAG environment that
holds ``apache-airflow`` (built with uv, not timed). A normal start pays a fresh interpreter
that imports Airflow's task SDK and parses the DAG file for every try; a zygote pays that
once per DAG version and forks each try. Off and on alternate per repetition, each on a
control plane of its own: the first run of each (the zygote's start is in it) and a second
run (the zygote warm) are both reported, from trigger to the run's success.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench.realpath import bench_plane
from bench.stats import Figure, summarize

ZYGOTE_ENV = "LEOFLOW_ZYGOTE"
LENGTH = 5
AIRFLOW_DEPENDENCIES = ("apache-airflow==3.3.2", "apache-airflow-providers-standard",
                        "pendulum")
CHAIN = '''\
# SIDEAF: {n} tasks in a line, run by the real Airflow's task runner
import pendulum
from airflow.sdk import DAG, task

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    @task
    def step(x: int) -> int:
        return x + 1

    value = step(0)
    for _ in range({n} - 1):
        value = step(value)
'''


async def _one(dag_id: str) -> tuple[float, float]:
    """(first run, second run) seconds on a fresh control plane."""
    async with bench_plane(CHAIN.format(n=LENGTH, dag_id=dag_id), dag_id,
                           dependencies=AIRFLOW_DEPENDENCIES) as bench:
        seconds: list[float] = []
        for _ in range(2):
            elapsed, run = await bench.run_once()
            value = await bench.value(run, f"step__{LENGTH - 1}")
            if value != LENGTH:
                raise RuntimeError(f"{dag_id}: the last task returned {value}, not {LENGTH}")
            seconds.append(elapsed)
        return seconds[0], seconds[1]


def _measure(dag_id: str, zygote: bool) -> tuple[float, float]:
    before = os.environ.get(ZYGOTE_ENV)
    os.environ[ZYGOTE_ENV] = "1" if zygote else "0"
    try:
        return asyncio.run(_one(dag_id))
    finally:
        if before is None:
            os.environ.pop(ZYGOTE_ENV, None)
        else:
            os.environ[ZYGOTE_ENV] = before


def side_by_side_airflow(runs: int) -> list[Figure]:
    load = os.getloadavg()[0]
    samples: dict[tuple[bool, int], list[float]] = {}
    started = time.monotonic()
    for rep in range(runs):
        for zygote in (False, True):
            first, second = _measure(f"sideaf_{rep}_{int(zygote)}", zygote)
            samples.setdefault((zygote, 0), []).append(first)
            samples.setdefault((zygote, 1), []).append(second)
    note = (f"{os.cpu_count()} cores, load {load:.1f} before, {os.getloadavg()[0]:.1f} after"
            f" {time.monotonic() - started:.0f} s")
    figures: list[Figure] = []
    for zygote in (False, True):
        label = "zygote" if zygote else "normal start"
        for which, name in ((0, "first run"), (1, "second run")):
            values: list[Any] = samples[(zygote, which)]
            figures.append(summarize("SIDEAF", f"chain{LENGTH}, {label}, {name}", "s", values,
                                     note=note if not figures else ""))
            figures.append(summarize("SIDEAF", f"  per task ({name})", "s",
                                     [v / LENGTH for v in values]))
    return figures
