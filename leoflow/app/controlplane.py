"""The composition root: one function builds the whole control plane from settings.

Store, scheduler, executors (subprocess agents; inline HTTP), the agent gRPC service, XCom,
logs and per-DAG environments are created here and passed down explicitly; nothing happens
at import time. ``leoflow run``, ``leoflow lite`` and ``leoflow-server`` all start from
``ControlPlane.start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from leoflow.app.log_failures import TryLogFailures
from leoflow.app.settings import Settings
from leoflow.app.task_users import task_users
from leoflow.app.xcom_failures import DiskFullXCom
from leoflow.engine.agent_service.context import run_params
from leoflow.engine.agent_service.service import AgentService, serve
from leoflow.engine.agent_service.replica import ReplicaAgentService
from leoflow.engine.environments.manager import EnvironmentManager
from leoflow.engine.environments.task_envs import TaskEnvironments
from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.executors.http import HttpExecutor
from leoflow.engine.executors.subprocess import SubprocessExecutor
from leoflow.engine.executors.task_environment import PreparingExecutor
from leoflow.engine.ha import LeaderElector, SchedulerRelay, asyncpg_connector
from leoflow.engine.logs import LogKey, LogStore, RedisLogBus
from leoflow.engine.scheduler.loop import Scheduler
from leoflow.engine.services import Operations, assets
from leoflow.engine.services.cross_dag import CrossDagRuns
from leoflow.engine.spec.model import DagSpec, TaskSpec, iter_xcom_refs
from leoflow.engine.store import Store, dags, runs, tokens
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.engine.triggers.runner import environment_connection
from leoflow.engine.xcom import (
    RETURN_VALUE,
    InputResolutionError,
    RedisXComBackend,
    SqlXComBackend,
    XComSweeper,
    make_fetch,
    resolve_inputs,
)

log = logging.getLogger("leoflow.controlplane")


@dataclass
class ControlPlane:
    """Every part of a running control plane; ``stop()`` closes them in order."""

    settings: Settings
    store: Store
    scheduler: Scheduler
    operations: Operations
    agent_service: AgentService
    environments: EnvironmentManager
    xcom: SqlXComBackend | RedisXComBackend
    logs: LogStore
    subprocess_executor: SubprocessExecutor
    http_executor: HttpExecutor
    grpc_port: int
    relay: SchedulerRelay | None = None  # what operations and agents report to (HA-aware)
    elector: LeaderElector | None = None  # PostgreSQL only: this replica's campaign
    stopped: bool = False
    _closers: list[Any] = field(default_factory=list)
    _last_beat: datetime | None = None

    async def stop(self, *, keep_agents: bool = False) -> None:
        """Stop scheduling, stop agents we started, close the servers and the store.

        ``keep_agents=True`` is a restart: running agents are left alone (their tries stay
        ``running`` in the store). A control plane started next on the same store and the
        same gRPC port adopts them: they reconnect by themselves (they retry for about
        10 s) and report to it, and those that died meanwhile are failed (or retried).
        """
        if self.stopped:
            return
        self.stopped = True
        if self.elector is not None:
            await self.elector.stop()  # a leader steps down: its scheduler stops
        await self.scheduler.stop()
        await self.subprocess_executor.close(keep_agents=keep_agents)
        await self.http_executor.close()
        await self.agent_service.stop()
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                await closer()
        await self.store.close()

    @property
    def is_leader(self) -> bool:
        """Whether this process runs the scheduler (always, without an election)."""
        return self.elector is None or self.elector.is_leader

    def leader_heartbeat(self) -> datetime | None:
        """When the leading replica last proved it holds the lock (``None``: no election,
        the scheduler runs in this process)."""
        if self.elector is None:
            return None
        leader = self.elector.leader
        if leader is not None and leader.heartbeat is not None:
            self._last_beat = leader.heartbeat
        return self._last_beat


def agent_addresses(advertised: str | None, own: str) -> str:
    """What agents get as ``LEOFLOW_AGENT_ADDRESS``: ``own`` (where this replica's agent
    service listens), or the advertised ``host:port`` list with this replica's own address
    moved first: an agent talks to the replica that started it and fails over to the
    others (in a cluster, one Service address does both)."""
    if not advertised:
        return own
    listed = [a.strip() for a in advertised.split(",") if a.strip()]
    if own in listed:
        listed.remove(own)
        listed.insert(0, own)
    return ",".join(listed)


class _MapSourceMirror:
    """Redis XCom, with the values a mapped task expands over also written to SQL.

    The scheduler counts a ``.expand()``'s instances from the upstream value it reads in the
    SQL ``xcom`` table (it decides inside its transaction). With XCom in Redis those values
    are written there too, with the same TTL (and swept by ``sweep``); every other value,
    and every read, stays in Redis. Remove this once the scheduler reads through the XCom
    backend.
    """

    def __init__(self, backend: RedisXComBackend, store: Store) -> None:
        self._backend = backend
        self._store = store
        self._sql = SqlXComBackend(store, backend.policy)
        self._sources: dict[str, frozenset[tuple[str, str]]] = {}  # version → (task, key)
        self._versions: dict[int, str] = {}  # dag run → version (recent runs)

    async def push(self, **kwargs: Any) -> int:
        size = await self._backend.push(**kwargs)
        if (kwargs["task_id"], kwargs.get("key", RETURN_VALUE)) in \
                await self._map_sources(kwargs["dag_run_id"]):
            await self._sql.push(**kwargs)
        return size

    async def _map_sources(self, dag_run_id: int) -> frozenset[tuple[str, str]]:
        version_id = self._versions.get(dag_run_id)
        if version_id is None or version_id not in self._sources:
            async with self._store.connect() as conn:
                run = await runs.get_run_by_id(conn, dag_run_id)
                if run is None:
                    return frozenset()
                version_id = run.dag_version_id
                if version_id not in self._sources:
                    spec = DagSpec.from_json((await dags.get_version(conn, version_id)).spec)
                    self._sources[version_id] = frozenset(
                        (ref.task_id, ref.key) for task in spec.tasks if task.expand
                        for value in task.expand.values.values()
                        for ref in iter_xcom_refs(value))
            if len(self._versions) > 10_000:
                self._versions.clear()
            self._versions[dag_run_id] = version_id
        return self._sources[version_id]

    async def sweep(self, now: datetime | None = None) -> int:
        return await self._sql.sweep(now) + await self._backend.sweep(now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def _datastores(settings: Settings, store: Store, home: Path
                ) -> tuple[SqlXComBackend | RedisXComBackend, LogStore, list[Any]]:
    """XCom and logs: SQL XCom and in-process live logs, or Redis for both (Pro).

    Returns them with what must be closed at the end (the Redis clients)."""
    if not settings.redis_url:
        return SqlXComBackend(store), LogStore(home / "logs"), []
    xcom = RedisXComBackend(settings.redis_url)
    bus = RedisLogBus(settings.redis_url)
    log.info("XCom and live logs in Redis")
    return xcom, LogStore(home / "logs", bus=bus), [xcom.close, bus.close]


def log_key(dag_id: str, run_id: str, task_id: str, try_number: int,
            map_index: int) -> LogKey:
    return LogKey(dag_id, run_id, task_id, try_number=try_number, map_index=map_index)


class _LogSink:
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


class _CountingXCom:
    """The XCom backend, telling ``on_push`` the size of each value pushed (metrics)."""

    def __init__(self, backend: Any, on_push: Callable[[int], None]) -> None:
        self._backend = backend
        self._on_push = on_push

    async def push(self, **kwargs: Any) -> int:
        size = await self._backend.push(**kwargs)
        try:
            self._on_push(size)
        except Exception:
            log.exception("the XCom push callback failed")
        return size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


async def start_control_plane(
    settings: Settings, *, grpc_host: str = "127.0.0.1", grpc_port: int = 0,
    parallelism: int = 32, auto_migrate: bool = True,
    listeners: Iterable[Callable[[str, dict[str, Any]], None]] = (),
    heartbeat_timeout: float = 10.0,
    on_xcom_push: Callable[[int], None] | None = None,
    campaign: bool = True,
    code_roots: Sequence[Path] = (),
) -> ControlPlane:
    """Open the store, start the gRPC service, the executors and the scheduler.

    ``on_xcom_push(size)`` is told the size in bytes of every XCom value stored (metrics).
    ``campaign=False`` (PostgreSQL only) makes a replica that serves the API and the agents
    but never runs the scheduler. ``code_roots`` are the folders DAG files are registered
    from by relative path (Lite's workspace, a server's DAGs folder).
    """
    home = settings.home
    from leoflow.engine.safe_files import make_private_dir

    make_private_dir(home)  # the store, secrets and logs: the owner's only (0700)
    store = await Store.open(settings.database_url, auto_migrate=auto_migrate)
    environments = EnvironmentManager(home)
    task_environments = TaskEnvironments(home)  # @task.virtualenv: a task's own venv
    xcom, logs, datastore_closers = _datastores(settings, store, home)
    log_failures = TryLogFailures(store)  # a log that cannot be written fails its try
    logs.on_write_failed = log_failures.failed
    sink = _LogSink(logs, log_failures)
    holder: dict[str, Any] = {}

    async def mint(launch: TaskLaunch) -> str:
        async with store.begin() as conn:
            return await tokens.mint_token(conn, launch.ti_id, launch.try_number)

    async def agent_output(launch: TaskLaunch, line: str) -> None:
        key = log_key(launch.dag_id, launch.run_id, launch.task_id, launch.try_number,
                      launch.map_index)
        await logs.append_lines(key, "agent", [line])

    async def environment_output(launch: TaskLaunch, lines: list[str]) -> None:
        key = log_key(launch.dag_id, launch.run_id, launch.task_id, launch.try_number,
                      launch.map_index)
        await logs.append_lines(key, "agent", lines)

    def interpreter_for(spec: DagSpec) -> str:
        env = environments.find(spec.project or spec.dag_id, spec.python_version,
                                spec.dependencies)
        if env is None:
            raise RuntimeError(f"the environment of DAG {spec.dag_id!r} is not built")
        return str(env.python)

    async def report(event: Any) -> None:
        await holder["relay"].report(event)

    async def cancel(ti_id: str, reason: str) -> None:
        await holder["relay"].cancel_task(ti_id, None, reason)

    subprocess_executor: SubprocessExecutor | None = None
    pods: Any = None  # the Kubernetes executor, when settings.executor is kubernetes

    def reported(ti_id: str) -> None:
        if subprocess_executor is not None:
            subprocess_executor.note_reported(ti_id)
        if pods is not None:
            pods.note_reported(ti_id)

    stored: Any = _MapSourceMirror(xcom, store) if isinstance(xcom, RedisXComBackend) else xcom
    # a full disk under the store fails the pushing try naming it (xcom_failures.py)
    stored = DiskFullXCom(stored, store.engine.url.database
                          if store.engine.url.get_backend_name() == "sqlite" else None)
    pushes: Any = stored if on_xcom_push is None else _CountingXCom(stored, on_xcom_push)
    from leoflow.engine.auth.cipher import SecretCipher
    from leoflow.engine.auth.config import AuthConfig, fernet_keys
    from leoflow.engine.auth.secrets import secrets_env

    cipher = SecretCipher(await asyncio.to_thread(fernet_keys, AuthConfig.from_settings(settings)))

    async def task_secrets(tenant: str) -> dict[str, str]:
        return await secrets_env(store, tenant, cipher)

    agent_service = ReplicaAgentService(
        store, report=report, xcom=pushes, logs=sink, code_dir=home / "code",
        interpreter_for=interpreter_for, on_reported=reported, cancel=cancel,
        secrets_env=task_secrets,
        task_env=lambda task: task_environments.env_for(task.options),
        heartbeat_timeout=heartbeat_timeout, code_roots=code_roots,
        is_leader=lambda: plane.is_leader, send=lambda message: relay.send(message))
    cluster = None
    if settings.executor == "kubernetes":  # docs/kubernetes.md
        from leoflow.engine.executors.kubernetes import connect_cluster

        cluster = await connect_cluster(
            context=settings.k8s_context, namespace=settings.k8s_namespace,
            advertised=settings.grpc_advertise_address, grpc_host=grpc_host)
        grpc_host = cluster.listen_host
    server, port = await serve(agent_service, grpc_host, grpc_port)
    subprocess_executor = SubprocessExecutor(address=agent_addresses(
        settings.grpc_advertise_address, f"{grpc_host}:{port}"), mint_token=mint,
                                             on_agent_output=agent_output,
                                             output_dir=home / "agents")
    # which OS user runs each tenant's tries, and what it may reach (docs/security.md)
    subprocess_executor.task_users = task_users(
        store, home=home, code_dir=home / "code", code_roots=code_roots,
        interpreter_for=interpreter_for, task_env=task_environments.env_for)

    async def http_push(launch: TaskLaunch, value: Any) -> None:
        await pushes.push(dag_run_id=launch.dag_run_id, task_id=launch.task_id,
                        map_index=launch.map_index, value=value)

    async def http_resolve(launch: TaskLaunch, task: TaskSpec) -> tuple[list[Any], dict]:
        async with store.connect() as conn:
            version = await dags.get_version(conn, launch.dag_version_id)
            run = await runs.get_run_by_id(conn, launch.dag_run_id)
        if run is None:
            raise InputResolutionError(task.task_id, "params",
                                       f"run {launch.dag_run_id} no longer exists")
        spec = DagSpec.from_json(version.spec)
        fetch = make_fetch(xcom, launch.dag_run_id,
                           mapped={t.task_id for t in spec.tasks if t.is_mapped})
        # the run's params, as the agent gives them to Python tasks (a DAG param feeding
        # an HttpOperator's url or body resolves here)
        return await resolve_inputs(task, launch.map_index, fetch=fetch,
                                    params=run_params(spec, run))

    http_executor = HttpExecutor(push_xcom=http_push, resolve=http_resolve, logs=logs)

    async def trigger_connection(tenant: str, conn_id: str) -> dict[str, Any] | None:
        # HTTP triggers use the DAG tenant's connections, as its tasks would see them.
        found = (await task_secrets(tenant)).get(f"AIRFLOW_CONN_{conn_id.upper()}")
        return json.loads(found) if found else await environment_connection(tenant, conn_id)

    # a task's own virtual environment is built before its agent starts (executors/
    # task_environment.py); in a DAG image (Kubernetes) the image holds the environment
    preparing = PreparingExecutor(subprocess_executor, task_environments, environment_output)
    executors: dict[str, Any] = {"subprocess": preparing, "http": http_executor}
    default_executor = "subprocess"
    if cluster is not None:
        pods = _kubernetes_executor(settings, store, cluster, port, mint, agent_output)
        executors["kubernetes"] = pods
        default_executor = "kubernetes"
    listeners = list(listeners)
    replica_id = settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"

    def make_scheduler() -> Scheduler:
        # A fresh scheduler for each term of leadership (see elected()): nothing in memory
        # from an earlier term (views, slots, timers) outlives the state it was built from.
        made = Scheduler(
            store, executors, assets=assets, parallelism=parallelism, listeners=listeners,
            executor_for=lambda task: "http" if task.operator == "http" else default_executor,
            trigger_logs=logs, connection_lookup=trigger_connection,
            triggerer_id=settings.replica_id)
        # TriggerDagRunOperator: its trigger creates runs through the cross-DAG service
        made.triggers.dag_runs = CrossDagRuns(store, made)
        return made

    scheduler = make_scheduler()
    relay = SchedulerRelay(store, scheduler, is_leader=lambda: plane.is_leader,
                           on_reported=reported, on_heartbeats=agent_service.heard)
    holder["relay"] = relay
    log_failures.report = relay.report
    log_failures.cancel = lambda ti_id, reason, try_number: relay.cancel_task(
        ti_id, None, reason, try_number)
    sweeper = XComSweeper(stored)
    plane = ControlPlane(
        settings=settings, store=store, scheduler=scheduler,
        operations=Operations(store, relay), agent_service=agent_service,
        environments=environments, xcom=xcom, logs=logs,
        subprocess_executor=subprocess_executor, http_executor=http_executor,
        grpc_port=port, relay=relay)
    plane._closers.extend([sweeper.stop, lambda: server.stop(grace=1.0), logs.close,
                           *datastore_closers, preparing.cancel_builds])
    if pods is not None:
        plane._closers.append(pods.close)
    if store.is_sqlite:  # one process owns the file: no election
        if not campaign:
            log.warning("a control plane on SQLite always runs its scheduler")
        await agent_service.start()
        await scheduler.start()
        sweeper.start()
        return plane

    # PostgreSQL: replicas elect the one that schedules (docs/ha.md); every replica serves
    # the API and the agents.
    terms = 0

    async def elected() -> None:
        nonlocal terms
        terms += 1
        if terms > 1:  # the first term uses the scheduler everyone was given
            previous, fresh = plane.scheduler, make_scheduler()
            for listener in previous._listeners:  # those added later (the IDE, tests)
                if listener not in listeners:
                    fresh.add_listener(listener)
            plane.scheduler = relay.scheduler = fresh
        # Reports this replica relayed while the old leader was dying come first, before
        # what the start concludes itself (an agent that has since exited: "failed").
        await relay.replay_kept()
        await agent_service.start()  # the heartbeat watchdog is the leader's job
        await plane.scheduler.start()
        for executor in executors.values():
            # an agent this replica supervises that ends after a hand-over is reported to
            # whichever replica leads by then
            executor.set_callback(relay.report)
        sweeper.start()

    async def lost() -> None:
        await plane.scheduler.stop()
        await agent_service.stop()
        agent_service.forget_sessions()
        await sweeper.stop()

    plane.elector = LeaderElector(asyncpg_connector(settings.database_url, replica_id),
                                  replica_id=replica_id, on_elected=elected, on_lost=lost,
                                  on_notify=relay.deliver, campaign=campaign)
    plane.elector.start()
    agent_service.start_forwarding()  # heartbeats heard while following go to the leader
    plane._closers.append(agent_service.stop_forwarding)
    # Return once this replica knows whether it leads: a lone replica (a single server or
    # ``leoflow lite --postgres``) then schedules from the first request on.
    await plane.elector.first_round(timeout=10.0)
    return plane


def _kubernetes_executor(settings: Settings, store: Store, cluster: Any, port: int,
                         mint: Callable[[TaskLaunch], Any],
                         agent_output: Callable[[TaskLaunch, str], Any]) -> Any:
    """One pod per try in the cluster; the image is the one the DAG's version records."""
    from leoflow.engine.executors.kubernetes import KubernetesExecutor

    images: dict[str, str | None] = {}

    async def image_for(launch: TaskLaunch) -> str | None:
        if launch.dag_version_id not in images:
            async with store.connect() as conn:
                version = await dags.get_version(conn, launch.dag_version_id)
            images[launch.dag_version_id] = version.spec.get("image")
        return images[launch.dag_version_id]

    return KubernetesExecutor(
        api_client=cluster.api_client, namespace=cluster.namespace,
        address=cluster.address(port), mint_token=mint, image_for=image_for,
        on_agent_output=agent_output, gc_delay=settings.k8s_pod_gc_delay)


def default_home() -> Path:
    return Settings.load().home
