"""What an agent is given to run its try: the task, its inputs, its context, its code.

``FetchTask`` answers with everything the agent needs so that neither it nor the user
process touches the database: the task's spec, its inputs resolved from upstream XComs and
the run's params, the run-time context (``ds``, ``params``, assets...), the DAG's
interpreter, the environment of the task (its own variables, the tenant's secrets), and
where the pinned version's code is. A resumed try (deferred, rescheduled) is told how to
resume (``next_method``, ``next_kwargs_json``, ``first_poke_at``).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.agent_service.assets import asset_context_in
from leoflow.engine.agent_service.context import build_context, prev_success_json, run_params
from leoflow.engine.agent_service.fencing import Session
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.store import Store, dags, runs, task_instances
from leoflow.engine.store.rows import DagRow, DagRunRow, TaskInstanceRow
from leoflow.rpc import agent_pb2 as pb

SPEC_CACHE = 64  # parsed DAG versions kept (a DAG with runs of many versions re-parses)

T = TypeVar("T")


class _Recent(Generic[T]):
    """A small map that forgets its least recently used entry beyond ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def hit(self, key: str) -> None:
        self._items.move_to_end(key)

    def put(self, key: str, value: T) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class XComReader(Protocol):
    async def get(self, dag_run_id: int, task_id: str, key: str = ...,
                  map_index: int = ...) -> Any: ...

    async def get_mapped(self, dag_run_id: int, task_id: str, key: str = ...
                         ) -> dict[int, Any]: ...


class TaskFetch:
    """Reads a try's task instance, run and spec (specs cached by version) and builds what
    the agent is given."""

    def __init__(self, store: Store, xcom: XComReader, *, code_dir: Path,
                 interpreter_for: Callable[[DagSpec], str],
                 secrets_env: Callable[[str], Awaitable[Mapping[str, str]]] | None = None,
                 task_env: Callable[[TaskSpec], Mapping[str, str]] | None = None,
                 code_roots: Sequence[Path] = ()) -> None:
        self.store = store
        self.xcom = xcom
        self.code_dir = code_dir
        self.code_roots = tuple(code_roots)
        self.interpreter_for = interpreter_for
        self.secrets_env = secrets_env
        # variables a task needs from the control plane itself (where its own virtual
        # environment is: leoflow.engine.environments.task_envs)
        self.task_env = task_env
        # parsed specs by DAG version id (a version is immutable), the most recently used
        # ``SPEC_CACHE`` of them
        self._specs: _Recent[DagSpec] = _Recent(SPEC_CACHE)
        # per pinned version (immutable): where its source was written out, or None when
        # the version has no stored source; saves reading the whole version row per try
        self._code_files: dict[str, Path | None] = {}

    async def load(self, session: Session, ti: TaskInstanceRow | None = None
                   ) -> tuple[TaskInstanceRow, DagRunRow, DagSpec]:
        """The try's task instance, its run and its DAG version's spec. ``ti`` is the row
        the call's token check just read (``Fencing.authorize_row``): it is not read
        again."""
        async with self.store.connect() as conn:
            return await self._load_in(conn, session, ti)

    async def _load_in(self, conn: AsyncConnection, session: Session,
                       ti: TaskInstanceRow | None) -> tuple[TaskInstanceRow, DagRunRow, DagSpec]:
        if ti is None:
            ti = await task_instances.get_task_instance_by_id(conn, session.ti_id)
            if ti is None:
                raise LookupError(f"task instance {session.ti_id} no longer exists")
        run = await runs.get_run_by_id(conn, ti.dag_run_id)
        if run is None:
            raise LookupError(f"the run of task instance {session.ti_id} no longer exists")
        spec = self._specs.get(run.dag_version_id)
        if spec is None:
            version = await dags.get_version(conn, run.dag_version_id)
            if version is None:
                raise LookupError(f"DAG version {run.dag_version_id} no longer exists")
            spec = DagSpec.from_json(version.spec)
            self._specs.put(run.dag_version_id, spec)
        else:
            self._specs.hit(run.dag_version_id)
        return ti, run, spec

    async def fetch(self, session: Session, context: grpc.aio.ServicerContext,
                    ti: TaskInstanceRow | None = None) -> pb.FetchTaskResponse:
        """What the agent is given; ``ti`` as for ``load``."""
        from leoflow.engine.xcom.resolve import resolve_inputs

        # one connection for what the try's rows say: its run and spec, the DAG (its
        # tenant, its file), the pinned version's code, the asset context and the previous
        # successful run
        async with self.store.connect() as conn:
            ti, run, spec = await self._load_in(conn, session, ti)
            task = spec.task(ti.task_id)
            dag = await dags.get_dag(conn, run.dag_id)
            tenant = dag.tenant if dag is not None else "default"
            project_dir, dag_file = await self._code_in(conn, dag, run, spec)
            assets = await asset_context_in(conn, tenant, run, task)
            prev_success = prev_success_json(await runs.previous_success(conn, run))
        params = run_params(spec, run)

        async def fetch(task_id: str, key: str) -> Any:
            return await self.pull_one(run.id, spec, task_id, key)

        try:
            args, kwargs = await resolve_inputs(task, ti.map_index, fetch=fetch, params=params)
        except Exception as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"cannot resolve the inputs of {ti.task_id!r}: {exc}")
            raise  # abort raises; this keeps type checkers and readers sure of it
        env = dict(spec.env)
        # the task's own env from leoflow.yaml (kubernetes.env, tasks.<id>.kubernetes.env):
        # the agent starts user code with a clean environment, so it must travel here
        env.update({str(k): str(v) for k, v in
                    ((task.kubernetes or {}).get("env") or {}).items()})
        if self.task_env is not None:
            env.update(self.task_env(task))
        if self.secrets_env is not None:
            # Variables and connections of the DAG's tenant, for this task's process only.
            env.update(await self.secrets_env(tenant))
        raw_task: dict[str, Any] = next(
            (t for t in spec.raw.get("tasks", ()) if t["task_id"] == ti.task_id), {})
        run_context = build_context(run, ti, params)
        run_context.update(assets)
        run_context["dag_run"]["partition_key"] = assets["partition_key"]
        run_context["dag_run"]["partition_date"] = assets["partition_date"]
        run_context["prev_success"] = prev_success
        return pb.FetchTaskResponse(
            dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index,
            try_number=ti.try_number, max_tries=ti.max_tries, operator=task.operator,
            task_json=json.dumps(raw_task), args_json=json.dumps(args),
            kwargs_json=json.dumps(kwargs),
            context_json=json.dumps(run_context),
            project_dir=str(project_dir), dag_file=str(dag_file),
            dag_folder=str(project_dir / Path(spec.fileloc).parent),
            python=self.interpreter_for(spec), env=env,
            execution_timeout=task.execution_timeout or 0.0,
            next_method=ti.next_method or "",
            next_kwargs_json=json.dumps(ti.next_kwargs) if ti.next_method else "",
            first_poke_at=ti.first_poke_at.timestamp() if ti.first_poke_at else 0.0)

    async def pull_one(self, dag_run_id: int, spec: DagSpec, task_id: str, key: str) -> Any:
        """A task's value; for a mapped task the ordered list of its instances' values."""
        if spec.task(task_id).is_mapped:
            mapped = await self.xcom.get_mapped(dag_run_id, task_id, key)
            return [mapped.get(i) for i in range(max(mapped, default=-1) + 1)]
        found = await self.xcom.get(dag_run_id, task_id, key)
        return getattr(found, "value", found)

    async def tenant_of(self, dag_id: str) -> str:
        async with self.store.connect() as conn:
            dag = await dags.get_dag(conn, dag_id)
        return dag.tenant if dag is not None else "default"

    async def _code_in(self, conn: AsyncConnection, dag: DagRow | None, run: DagRunRow,
                       spec: DagSpec) -> tuple[Path, Path]:
        """Where the DAG's code is: the project folder, and the pinned version's DAG file.

        Runs are pinned to a version, so the DAG file is written out from the version's
        stored source (once per version) instead of read from the project, which may have
        changed since; the project folder stays on ``sys.path`` for its helper modules.
        The project folder is the registered file's path without the spec's ``fileloc``
        (``dag.py`` of a project, ``sub/x.py`` of a plain folder); a path relative to one
        of ``code_roots`` (Lite's workspace, a server's DAGs folder) is found there.
        """
        fileloc = Path(dag.fileloc) if dag and dag.fileloc else Path(spec.fileloc)
        if not fileloc.is_absolute():
            fileloc = next((root / fileloc for root in self.code_roots
                            if (root / fileloc).exists()), fileloc)
        project_dir = project_root(fileloc, spec.fileloc) if fileloc.is_absolute() \
            else self.code_dir
        key = run.dag_version_id
        if key in self._code_files:
            written = self._code_files[key]
            if written is None:
                return project_dir, fileloc
            if written.exists():  # the code folder may have been cleaned since
                return project_dir, written
        version = await dags.get_version(conn, run.dag_version_id)
        if version is None or not version.source_code:
            if version is not None:
                self._code_files[key] = None
            return project_dir, fileloc
        digest = version.content_hash.split(":")[-1][:16]
        target = self.code_dir / run.dag_id / digest / Path(spec.fileloc).name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            from leoflow.engine.safe_files import write_file

            write_file(target, version.source_code, root=self.code_dir)  # no link followed
        self._code_files[key] = target
        return project_dir, target


def project_root(file: Path, relative: str) -> Path:
    """``/dags/sub/x.py`` less ``sub/x.py`` is ``/dags``; else the file's folder."""
    parts = Path(relative).parts
    if parts and file.parts[-len(parts):] == parts and len(file.parts) > len(parts):
        return Path(*file.parts[:-len(parts)])
    return file.parent
