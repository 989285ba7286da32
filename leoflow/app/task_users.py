"""Wiring of tenant isolation for the subprocess executor (docs/security.md, "What isolates
tenants"): what a try's code needs to reach, found in the store the way the agent service
finds it, for ``leoflow.engine.executors.isolation.TaskUsers``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from leoflow.engine.agent_service.task_fetch import project_root
from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.executors.isolation import DEFAULT_TENANT, TaskUsers, TryPaths
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import Store, dags
from leoflow.errors import InvariantError

log = logging.getLogger("leoflow.executor.isolation")


def task_users(store: Store, *, home: Path, code_dir: Path, code_roots: Sequence[Path],
               interpreter_for: Callable[[DagSpec], str],
               task_env: Callable[[Mapping[str, Any] | None], Mapping[str, str]]
               ) -> TaskUsers:
    """The ``TaskUsers`` of a control plane: its tenant and paths come from the store."""
    specs: dict[str, DagSpec] = {}

    async def paths_of(launch: TaskLaunch) -> TryPaths:
        async with store.connect() as conn:
            dag = await dags.get_dag(conn, launch.dag_id)
            spec = specs.get(launch.dag_version_id)
            if spec is None:
                version = await dags.get_version(conn, launch.dag_version_id)
                if version is None:  # a try's run references its version (foreign key)
                    raise InvariantError(f"DAG version {launch.dag_version_id} of task instance "
                                         f"{launch.ti_id} is not stored")
                spec = specs[launch.dag_version_id] = DagSpec.from_json(version.spec)
        tenant = dag.tenant if dag is not None else DEFAULT_TENANT
        try:
            python: str | None = interpreter_for(spec)
        except Exception:  # not built: the agent service says so to the agent
            python = None
        others = tuple(task_env(spec.task(launch.task_id).options).values())
        fileloc = Path(dag.fileloc) if dag is not None and dag.fileloc else Path(spec.fileloc)
        if not fileloc.is_absolute():
            fileloc = next((root / fileloc for root in code_roots
                            if (root / fileloc).exists()), fileloc)
        project = project_root(fileloc, spec.fileloc) if fileloc.is_absolute() else code_dir
        return TryPaths(tenant=tenant, dag_id=launch.dag_id, python=python,
                        project_dir=project, other_pythons=others)

    async def tenant_of(launch: TaskLaunch) -> str:
        async with store.connect() as conn:  # not cached: a deleted DAG's id can be reused
            dag = await dags.get_dag(conn, launch.dag_id)
        return dag.tenant if dag is not None else DEFAULT_TENANT

    users = TaskUsers(home=home, code_dir=code_dir, code_roots=code_roots, paths_of=paths_of,
                      tenant_of=tenant_of)
    log.info("subprocess executor: tenants' tasks run as %s", {
        "per-tenant-uid": "an OS user per tenant (the default tenant as the control plane's)",
        "shared-uid": "the control plane's user, every tenant (LEOFLOW_ALLOW_SHARED_UID=1)",
        "one-tenant": "the control plane's user, one tenant only (not root)"}[users.mode])
    return users
