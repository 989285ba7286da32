"""The workloads, each a function returning figures. More arrive as the engine grows."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.generate import lattice_project
from bench.stats import Figure, repeat, summarize


def w6_compile(runs: int) -> list[Figure]:
    """W6 bigdag: wall time of `leoflow compile` (child process included) on 1,000 tasks."""
    from leoflow.engine.compiler.compile import compile_project

    with tempfile.TemporaryDirectory() as tmp:
        project = lattice_project(Path(tmp))
        compile_project(project)  # warm the OS file cache once; not counted

        def once() -> float:
            started = time.perf_counter()
            result = compile_project(project)
            elapsed = time.perf_counter() - started
            assert len(result.documents[0]["tasks"]) == 1000
            return elapsed

        samples = repeat(once, runs)
    return [summarize("W6 bigdag", "compile 1,000 tasks (9,900 edges)", "s", samples)]


WORKLOADS = {"W6": w6_compile}


def parse50(runs: int) -> list[Figure]:
    """W3 parse50: a 50-file Airflow folder and 50 projects, one child per environment,
    beside one child per project (bench/parse.py)."""
    from bench.parse import w3_parse

    return w3_parse(runs)


WORKLOADS["W3"] = parse50


def sdk_import(runs: int) -> list[Figure]:
    """`import leoflow` in a fresh interpreter, minus the bare interpreter's start-up."""
    import subprocess
    import sys

    def timed(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started

    samples = []
    for _ in range(runs):
        bare = min(timed("pass") for _ in range(3))
        loaded = min(timed("import leoflow") for _ in range(3))
        samples.append(max(loaded - bare, 0.0) * 1000)
    return [summarize("SDK", "import leoflow (fresh interpreter)", "ms", samples)]


WORKLOADS["SDK"] = sdk_import


def scheduler_latency(runs: int) -> list[Figure]:
    """SCHED: decision latency over a 200-task chain, and W6 trigger → first task."""
    from bench.scheduler_latency import scheduler_latency as measure

    return measure(runs)


WORKLOADS["SCHED"] = scheduler_latency


def lite(runs: int) -> list[Figure]:
    """W7 coldstart of `leoflow lite`, and save → new version (bench/lite.py)."""
    from bench.lite import save_latency, w7_coldstart

    return w7_coldstart(runs) + save_latency(runs)


WORKLOADS["W7"] = lite


def _realpath(name: str) -> Callable[[int], list[Figure]]:
    """W1, W2, W8 and PHASES run the real path (bench/realpath.py): imported when run."""
    def run(runs: int) -> list[Figure]:
        from bench import realpath

        return getattr(realpath, name)(runs)

    return run


WORKLOADS["W1"] = _realpath("w1_chain")
WORKLOADS["W2"] = _realpath("w2_fanout")
WORKLOADS["W8"] = _realpath("w8_xcom")
WORKLOADS["PHASES"] = _realpath("phases")


def sensors(runs: int) -> list[Figure]:
    """W5 sensors: deferred time sensors held at once (bench/sensors.py)."""
    from bench.sensors import w5_sensors

    return w5_sensors(runs)


WORKLOADS["W5"] = sensors


def assets(runs: int) -> list[Figure]:
    """ASSETS: asset event → consumer run, p50/p95 over 50 producer runs (bench/assets.py)."""
    from bench.assets import assets_event_to_run

    return assets_event_to_run(runs)


WORKLOADS["ASSETS"] = assets


def environments(runs: int) -> list[Figure]:
    """ENVS: a provider environment's first build and a second DAG reusing it
    (bench/environments.py)."""
    from bench.environments import envs

    return envs(runs)


WORKLOADS["ENVS"] = environments


def side(runs: int) -> list[Figure]:
    """SIDE: W1 and W2, normal start vs zygote, and their ratio to a fresh-interpreter
    floor measured in the same run (bench/side_by_side.py)."""
    from bench.side_by_side import side_by_side

    return side_by_side(runs)


WORKLOADS["SIDE"] = side


def side_airflow(runs: int) -> list[Figure]:
    """SIDEAF: a 5-task chain of a real-Airflow DAG, normal start vs zygote
    (bench/side_by_side_airflow.py)."""
    from bench.side_by_side_airflow import side_by_side_airflow

    return side_by_side_airflow(runs)


WORKLOADS["SIDEAF"] = side_airflow
