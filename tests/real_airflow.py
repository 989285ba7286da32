"""A DAG environment holding the real Airflow, built once per test session.

Issue "Airflow providers run unchanged": a DAG whose ``leoflow.yaml`` lists a provider
(``apache-airflow-providers-sqlite``...) gets the real ``apache-airflow`` in its environment,
and the import shim steps aside. Tests of that path need such an environment; building it
costs seconds even with uv's cache (about 130 packages), so it is built once per session,
through Leoflow's own environment code (``EnvironmentManager.ensure``, the path a user's
``leoflow run`` takes: uv venv, uv pip install, the SDK linked in by a ``.pth`` file).

How tests use it:

- the session fixture ``real_airflow`` (``tests/conftest.py``) returns a ``RealAirflowEnv``:
  ``.python`` is the environment's interpreter (hand it to ``compile_project(...,
  python=...)`` or run it directly), ``.environment`` the ``Environment``, ``.home`` the
  LEOFLOW_HOME whose ``venvs/`` holds it, ``.seconds`` what the build took;
- ``RealAirflowEnv.project(folder, dag_id, source)`` writes a project (``dag.py`` and a
  ``leoflow.yaml`` listing ``DEPENDENCIES``) for tests that go through the real path
  (``tests/e2e/harness.Projects.prepare`` builds its environment under the e2e home, from
  uv's cache now warm, then compiles it);
- ``await RealAirflowEnv.ensure(home, dag_id)`` gives the environment of ``dag_id`` under
  another LEOFLOW_HOME (a control plane a test started), built the same way from uv's warm
  cache (hard links); it is the environment the agent would run that DAG's tasks in.

Nothing here is a stand-in: the packages are the registry's, installed by uv as for a user.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from leoflow.engine.environments.manager import Environment, EnvironmentManager

AIRFLOW_VERSION = "3.3.2"
# What the user lists in leoflow.yaml (a provider pulls in apache-airflow; pinning it
# keeps the session's environment the one the example DAGs and the baseline come from).
DEPENDENCIES: tuple[str, ...] = (
    f"apache-airflow=={AIRFLOW_VERSION}",
    "apache-airflow-providers-sqlite",
    "apache-airflow-providers-postgres",
    "apache-airflow-providers-http",
    "apache-airflow-providers-standard",
    "pendulum",
)
DAG_ID = "real_airflow_env"


@dataclass(frozen=True)
class RealAirflowEnv:
    """The session's environment holding the real Airflow (see the module docstring)."""

    home: Path
    environment: Environment
    seconds: float

    @property
    def python(self) -> Path:
        return self.environment.python

    @staticmethod
    def leoflow_yaml(dag_id: str) -> str:
        """A leoflow.yaml whose environment has the same contents as this one."""
        lines = [f"dag_id: {dag_id}", "dependencies:"]
        lines += [f'  - "{dep}"' for dep in DEPENDENCIES]
        return "\n".join(lines) + "\n"

    def project(self, folder: Path, dag_id: str, source: str) -> Path:
        """Write ``folder/dag.py`` and ``folder/leoflow.yaml`` (the real-Airflow dependencies)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "dag.py").write_text(source, "utf-8")
        (folder / "leoflow.yaml").write_text(self.leoflow_yaml(dag_id), "utf-8")
        return folder

    @staticmethod
    async def ensure(home: Path, dag_id: str) -> Environment:
        """The environment of ``dag_id`` under ``home`` (built from uv's warm cache)."""
        return await EnvironmentManager(home).ensure(dag_id, None, DEPENDENCIES)


def build(home: Path) -> RealAirflowEnv:
    """Build (or find) the environment under ``home``; what the session fixture calls."""
    started = time.monotonic()
    environment = asyncio.run(EnvironmentManager(home).ensure(DAG_ID, None, DEPENDENCIES))
    return RealAirflowEnv(home=home, environment=environment,
                          seconds=time.monotonic() - started)
