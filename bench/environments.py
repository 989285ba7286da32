"""ENVS: a provider environment's first build, and a second DAG reusing it.

The issue's user lists ``apache-airflow-providers-sqlite`` and ``pendulum``: the provider
pulls in the real Apache Airflow (about 130 packages). Each run starts from an empty
Leoflow home with uv's cache warm (a warm-up build, not counted, fills it: what a machine
that has built any Airflow environment before has), then times

* the first DAG's ``EnvironmentManager.ensure``: uv venv, resolution, install by hard links
  from the cache, bytecode compiled, the environment sealed;
* a second DAG asking for the same packages (in another order): what it costs to get
  the shared environment (target: under 1 s).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.stats import Figure, summarize

DEPENDENCIES = ("apache-airflow-providers-sqlite", "pendulum")


def _packages(env_path: Path) -> int:
    return sum(1 for site in (env_path / "lib").glob("python*/site-packages")
               for _ in site.glob("*.dist-info"))


def envs(runs: int) -> list[Figure]:
    from leoflow.engine.environments.manager import EnvironmentManager

    async def measure(home: Path) -> tuple[float, float, int]:
        manager = EnvironmentManager(home)
        started = time.perf_counter()
        first = await manager.ensure("provider_dag", None, DEPENDENCIES)
        built = time.perf_counter() - started
        started = time.perf_counter()
        second = await manager.ensure("another_dag", None, tuple(reversed(DEPENDENCIES)))
        reused = time.perf_counter() - started
        if second.path != first.path or manager.builds != 1:
            raise RuntimeError("the second DAG did not reuse the first one's environment")
        return built, reused, _packages(first.path)

    builds: list[float] = []
    reuses: list[float] = []
    packages = 0
    with tempfile.TemporaryDirectory(prefix="leoflow-bench-envs-") as tmp:
        asyncio.run(measure(Path(tmp) / "warm-up"))  # fills uv's cache; not counted
        for i in range(runs):
            built, reused, packages = asyncio.run(measure(Path(tmp) / f"home-{i}"))
            builds.append(built)
            reuses.append(reused * 1000)
    deps = " + ".join(DEPENDENCIES)
    return [summarize("ENVS", f"first build ({packages} packages)", "s", builds,
                      note=f"{deps}, uv cache warm"),
            summarize("ENVS", "second DAG, same packages", "ms", reuses,
                      note="the shared environment: no uv run")]
