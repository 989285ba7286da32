"""Small adapters the composition root hands to the executors and the agent service.

Each part of the control plane asks for what it needs as a callable of its own shape (the
executor mints a try's token, the agent service writes log lines by task-instance row, the
inline HTTP executor resolves a task's inputs...). These classes answer those calls from
the store, the backends and the environments, one job each, so that
``start_control_plane`` only wires them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from leoflow.app.log_failures import TryLogFailures
from leoflow.engine.agent_service.context import run_params
from leoflow.engine.auth.cipher import SecretCipher
from leoflow.engine.auth.secrets import secrets_env
from leoflow.engine.environments.manager import EnvironmentManager
from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.logs import LogKey, LogStore
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.store import Store, dags, runs, tokens
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.engine.triggers.runner import environment_connection
from leoflow.engine.xcom import InputResolutionError, XComBackend, make_fetch, resolve_inputs


def log_key(dag_id: str, run_id: str, task_id: str, try_number: int,
            map_index: int) -> LogKey:
    return LogKey(dag_id, run_id, task_id, try_number=try_number, map_index=map_index)


def launch_log_key(launch: TaskLaunch) -> LogKey:
    return log_key(launch.dag_id, launch.run_id, launch.task_id, launch.try_number,
                   launch.map_index)


class TokenMinter:
    """A fresh per-try token for each agent an executor starts (store/tokens.py)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def __call__(self, launch: TaskLaunch) -> str:
        async with self._store.begin() as conn:
            return await tokens.mint_token(conn, launch.ti_id, launch.try_number)


class AgentOutput:
    """What an agent printed itself, and the output of building a task's own environment,
    go to the try's log as the ``agent`` stream."""

    def __init__(self, logs: LogStore) -> None:
        self._logs = logs

    async def line(self, launch: TaskLaunch, line: str) -> None:
        await self._logs.append_lines(launch_log_key(launch), "agent", [line])

    async def lines(self, launch: TaskLaunch, lines: list[str]) -> None:
        await self._logs.append_lines(launch_log_key(launch), "agent", lines)


class TraceLines:
    """Writes a try's trace line (engine/tracing.py) to its log as the ``agent`` stream."""

    def __init__(self, logs: LogStore) -> None:
        self._logs = logs

    async def __call__(self, dag_id: str, run_id: str, task_id: str, try_number: int,
                       map_index: int, line: str) -> None:
        await self._logs.append_lines(log_key(dag_id, run_id, task_id, try_number, map_index),
                                      "agent", [line])


class LogSink:
    """Adapts the LogStore to what the agent service writes (rows → log keys); tells
    ``failures`` which try writes which log (a log that cannot be written fails its try)."""

    def __init__(self, logs: LogStore, failures: TryLogFailures) -> None:
        self.logs = logs
        self.failures = failures

    async def write_lines(self, ti: TaskInstanceRow, try_number: int, stream: str,
                          lines: list[str], timestamp: float | None) -> None:
        key = log_key(ti.dag_id, ti.run_id, ti.task_id, try_number, ti.map_index)
        self.failures.note(key, ti.id, try_number)
        await self.logs.append_lines(key, stream, lines, timestamp)

    async def finish(self, ti: TaskInstanceRow, try_number: int) -> None:
        key = log_key(ti.dag_id, ti.run_id, ti.task_id, try_number, ti.map_index)
        self.failures.forget(key)
        await self.logs.finish(key)


class Interpreters:
    """The Python of a DAG's environment, which must have been built (registration does)."""

    def __init__(self, environments: EnvironmentManager) -> None:
        self._environments = environments

    def __call__(self, spec: DagSpec) -> str:
        env = self._environments.find(spec.project or spec.dag_id, spec.python_version,
                                      spec.dependencies)
        if env is None:
            raise RuntimeError(f"the environment of DAG {spec.dag_id!r} is not built")
        return str(env.python)


class TenantSecrets:
    """A tenant's variables and connections as its tasks see them (decrypted here)."""

    def __init__(self, store: Store, cipher: SecretCipher) -> None:
        self._store = store
        self._cipher = cipher

    async def env(self, tenant: str) -> dict[str, str]:
        return await secrets_env(self._store, tenant, self._cipher)

    async def connection(self, tenant: str, conn_id: str) -> Mapping[str, Any] | None:
        """HTTP triggers use the DAG tenant's connections, as its tasks would see them."""
        found = (await self.env(tenant)).get(f"AIRFLOW_CONN_{conn_id.upper()}")
        return json.loads(found) if found else await environment_connection(tenant, conn_id)


class HttpTaskIO:
    """What the inline HTTP executor reads and writes: a task's inputs resolved with the
    run's params, its result pushed as XCom (through ``pushes``, the counted backend)."""

    def __init__(self, store: Store, xcom: XComBackend, pushes: XComBackend) -> None:
        self._store = store
        self._xcom = xcom
        self._pushes = pushes

    async def push(self, launch: TaskLaunch, value: Any) -> None:
        await self._pushes.push(dag_run_id=launch.dag_run_id, task_id=launch.task_id,
                                map_index=launch.map_index, value=value)

    async def resolve(self, launch: TaskLaunch, task: TaskSpec) -> tuple[list[Any], dict]:
        async with self._store.connect() as conn:
            version = await dags.get_version(conn, launch.dag_version_id)
            run = await runs.get_run_by_id(conn, launch.dag_run_id)
        if run is None or version is None:
            raise InputResolutionError(task.task_id, "params",
                                       f"run {launch.dag_run_id} no longer exists")
        spec = DagSpec.from_json(version.spec)
        fetch = make_fetch(self._xcom, launch.dag_run_id,
                           mapped={t.task_id for t in spec.tasks if t.is_mapped})
        # the run's params, as the agent gives them to Python tasks (a DAG param feeding
        # an HttpOperator's url or body resolves here)
        return await resolve_inputs(task, launch.map_index, fetch=fetch,
                                    params=run_params(spec, run))


class DagImages:
    """The image a DAG's version records (Kubernetes: one pod per try runs it)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._images: dict[str, str | None] = {}

    async def __call__(self, launch: TaskLaunch) -> str | None:
        if launch.dag_version_id not in self._images:
            async with self._store.connect() as conn:
                version = await dags.get_version(conn, launch.dag_version_id)
            self._images[launch.dag_version_id] = \
                version.spec.get("image") if version is not None else None
        return self._images[launch.dag_version_id]
