"""SIDE: W1 chain20 and W2 fanout100 with the user process started the normal way and forked
from a per-DAG-version zygote (``LEOFLOW_ZYGOTE``), side by side, with the ratio of each to
a fresh-interpreter floor measured in the same run.

The floor is what 20 user processes would cost if nothing but their start-up were paid:
20 x a fresh interpreter that imports the SDK's task runner (``python -c "import
leoflow.sdk.task_runner"``, one after the other). A ratio of 1.0 would mean the whole
orchestration costs as much as starting 20 interpreters; the ratio travels between
machines where seconds do not. Off and on alternate per repetition (off, on, off, on...),
each on a control plane of its own, so that a change in the machine's load hits both, and
each sample is divided by the floor measured at the start of its repetition.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

from bench.realpath import bench_plane, chain_source, fanout_source
from bench.stats import Figure, summarize

FLOOR_TASKS = 20
ZYGOTE_ENV = "LEOFLOW_ZYGOTE"


def floor_seconds() -> float:
    """20 fresh interpreters importing the task runner, one after the other (seconds)."""
    started = time.perf_counter()
    for _ in range(FLOOR_TASKS):
        subprocess.run([sys.executable, "-c", "import leoflow.sdk.task_runner"], check=True)
    return time.perf_counter() - started


async def _one(source: str, dag_id: str, task_id: str, expected: int) -> float:
    """One warm-up run (not counted) then one counted run, on a fresh control plane."""
    async with bench_plane(source, dag_id) as bench:
        await bench.run_once()
        seconds, run = await bench.run_once()
        value = await bench.value(run, task_id)
        if value != expected:
            raise RuntimeError(f"{dag_id}: {task_id} returned {value}, not {expected}")
        return seconds


def _measure(source: str, dag_id: str, task_id: str, expected: int, zygote: bool) -> float:
    before = os.environ.get(ZYGOTE_ENV)
    os.environ[ZYGOTE_ENV] = "1" if zygote else "0"
    try:
        return asyncio.run(_one(source, dag_id, task_id, expected))
    finally:
        if before is None:
            os.environ.pop(ZYGOTE_ENV, None)
        else:
            os.environ[ZYGOTE_ENV] = before


def side_by_side(runs: int) -> list[Figure]:
    load = os.getloadavg()[0]
    cases: list[tuple[str, str, str, str, int]] = [
        ("W1 chain20", chain_source(20, "side_w1"), "side_w1", "step__19", 20),
        ("W2 fanout100", fanout_source(100, "side_w2"), "side_w2", "total",
         sum(i * i for i in range(100))),
    ]
    samples: dict[tuple[str, bool], list[float]] = {}
    floors: list[float] = []
    for _ in range(runs):
        floors.append(floor_seconds())
        for name, source, dag_id, task_id, expected in cases:
            for zygote in (False, True):
                samples.setdefault((name, zygote), []).append(
                    _measure(source, dag_id, task_id, expected, zygote))
    note = f"{os.cpu_count()} cores, load {load:.1f} before"
    figures = [summarize("SIDE", f"floor: {FLOOR_TASKS} x interpreter + SDK import", "s",
                         floors, note=note)]
    for name, *_ in cases:
        for zygote in (False, True):
            label = "zygote" if zygote else "normal start"
            values: list[Any] = samples[(name, zygote)]
            figures.append(summarize("SIDE", f"{name}, {label}: trigger → success", "s",
                                     values))
            # each repetition against the floor measured just before it (the load moves)
            figures.append(summarize("SIDE", f"{name}, {label}: ratio to the floor", "x",
                                     [v / f for v, f in zip(values, floors, strict=True)]))
    return figures
