"""W3 parse50: compile a folder of 50 DAG files, and 50 leoflow.yaml projects.

Both go through one compile child per environment that imports the SDK once and forks a
process per file (``leoflow/engine/compiler/batch.py``); the figure beside them is the old
way, one ``leoflow compile`` child per project. Warm: the files were compiled once before
(the OS file cache and the interpreter's bytecode are warm, as on a user's second save).
CPU is every process's user + system time, so that a loaded machine's figure can be read.
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.generate import parse50_projects
from bench.stats import Figure, summarize

AIRFLOW_FILE = '''\
# W3 parse50: file {n} of 50, ten Python tasks in a line (an Airflow DAGs folder).
import pendulum
from airflow.sdk import DAG, task

with DAG("plain_{n:02d}", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1)):
    @task
    def step(x: int) -> int:
        return x + 1

    value = step(0)
    for _ in range(9):
        value = step(value)
'''


def airflow_folder(root: Path, count: int = 50) -> Path:
    folder = root / "dags"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"dag_{n:02d}.py").write_text(AIRFLOW_FILE.format(n=n))
    return folder


def _timed(action: Callable[[], int], expected: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process and its children) of ``action``."""
    before = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    started = time.perf_counter()
    found = action()
    wall = time.perf_counter() - started
    after = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    if found != expected:
        raise RuntimeError(f"compiled {found} DAGs, expected {expected}")
    cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime
              for a, b in zip(after, before, strict=True))
    return wall, cpu


def w3_parse(runs: int, *, one_by_one: bool = True) -> list[Figure]:
    from leoflow.engine.compiler.compile import compile_project, compile_projects

    with tempfile.TemporaryDirectory() as tmp:
        folder = airflow_folder(Path(tmp))
        projects = parse50_projects(Path(tmp) / "projects")

        def plain() -> int:
            return len(compile_project(folder, keep_going=True).documents)

        def batched() -> int:
            return sum(not isinstance(r, Exception) for r in compile_projects(projects))

        def each() -> int:
            return sum(len(compile_project(p).documents) for p in projects)

        plain(), batched()  # warm
        samples: dict[str, list[tuple[float, float]]] = {"plain": [], "batched": [], "each": []}
        for _ in range(runs):
            samples["plain"].append(_timed(plain, 50))
            samples["batched"].append(_timed(batched, 50))
            if one_by_one:
                samples["each"].append(_timed(each, 50))
    figures = []
    for key, label in (("plain", "50-file Airflow folder"),
                       ("batched", "50 projects, one child per env"),
                       ("each", "50 projects, one child each")):
        if samples[key]:
            figures.append(summarize("W3 parse50", f"{label} (wall)", "s",
                                     [w for w, _ in samples[key]]))
            figures.append(summarize("W3 parse50", f"{label} (CPU)", "s",
                                     [c for _, c in samples[key]]))
    return figures
