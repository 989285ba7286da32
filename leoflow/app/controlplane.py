"""The composition root: one function builds the whole control plane from settings.

Store, scheduler, executors (subprocess agents; inline HTTP), the agent gRPC service, XCom,
logs and per-DAG environments are created here and passed down explicitly; nothing happens
at import time. ``leoflow run``, ``leoflow lite`` and ``leoflow-server`` all start from
``start_control_plane``. What the faces (API, IDE, CLI, hot reload) may use is one frozen
``Services`` (``leoflow.engine.services.container``), built here once: ``plane.services``.

The order is the order of what each part needs. Two edges point backwards, and both are
wired explicitly in a second step rather than through a late-bound lookup: the relay hands
heartbeats a follower forwarded to the agent service that reports to it
(``relay.on_heartbeats``), and the elector that decides ``Leadership`` calls back into the
parts that ask it (``leadership.elect_with``). The agents' gRPC port is bound first (every
agent's address holds it) and serves once the agent service is wired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leoflow.app.log_failures import TryLogFailures
from leoflow.app.plane_adapters import (
    AgentOutput,
    DagImages,
    HttpTaskIO,
    Interpreters,
    LogSink,
    TenantSecrets,
    TokenMinter,
    TraceLines,
)
from leoflow.app.plane_terms import SchedulerFactory, SchedulerTerms
from leoflow.app.plane_xcom import CountingXCom, open_datastores, pushed_xcom
from leoflow.app.settings import Settings
from leoflow.app.task_users import task_users
from leoflow.engine.agent_service.replica import ReplicaAgentService
from leoflow.engine.agent_service.server import AgentServer
from leoflow.engine.environments.manager import EnvironmentManager
from leoflow.engine.environments.task_envs import TaskEnvironments
from leoflow.engine.executors.base import Executor
from leoflow.engine.executors.http import HttpExecutor
from leoflow.engine.executors.isolation import TaskUsers
from leoflow.engine.executors.subprocess import SubprocessExecutor
from leoflow.engine.executors.task_environment import PreparingExecutor
from leoflow.engine.ha import LeaderElector, SchedulerRelay, asyncpg_connector
from leoflow.engine.logs import LogStore
from leoflow.engine.scheduler.loop import Scheduler
from leoflow.engine.services import Operations, backfills
from leoflow.engine.services.container import Services
from leoflow.engine.services.cross_dag import CrossDagRuns
from leoflow.engine.services.leadership import Leadership
from leoflow.engine.store import Store
from leoflow.engine.tracing import from_environment as tracing_from_environment
from leoflow.engine.xcom import XComBackend, XComSweeper

if TYPE_CHECKING:
    from leoflow.engine.auth.cipher import SecretCipher
    from leoflow.engine.executors.k8s_cluster import ClusterTarget
    from leoflow.engine.executors.kubernetes import KubernetesExecutor

log = logging.getLogger("leoflow.controlplane")

Closer = Callable[[], Awaitable[Any]]


@dataclass
class ControlPlane:
    """Every part of a running control plane; ``stop()`` closes them in order.

    ``services`` is what the faces use; the rest (executors, agent service) is the
    machinery only the composition root and its tests touch.
    """

    settings: Settings
    services: Services
    agent_service: ReplicaAgentService
    subprocess_executor: SubprocessExecutor
    http_executor: HttpExecutor
    grpc_port: int
    stopped: bool = False
    _closers: list[Closer] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def operations(self) -> Operations:
        return self.services.operations

    @property
    def xcom(self) -> XComBackend:
        return self.services.xcom

    @property
    def logs(self) -> LogStore:
        return self.services.logs

    @property
    def environments(self) -> EnvironmentManager:
        return self.services.environments

    @property
    def relay(self) -> SchedulerRelay:
        """What operations and agents report to (HA-aware)."""
        return self.services.relay

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler of this replica's current term."""
        return self.services.scheduler

    @property
    def task_users(self) -> TaskUsers | None:
        """Which OS user runs (and compiles) each tenant's code."""
        return self.services.task_users

    @property
    def elector(self) -> LeaderElector | None:
        """PostgreSQL only: this replica's campaign."""
        return self.services.leadership.elector

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
        return self.services.leadership.is_leader()

    def leader_heartbeat(self) -> datetime | None:
        """When the leading replica last proved it holds the lock (``None``: no election,
        the scheduler runs in this process)."""
        return self.services.leadership.heartbeat()


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
    datastores = open_datastores(settings, store, home)
    xcom, logs = datastores.xcom, datastores.logs
    stored = pushed_xcom(xcom, store)  # what agents push through (and what is swept)
    pushes = stored if on_xcom_push is None else CountingXCom(stored, on_xcom_push)
    secrets = TenantSecrets(store, await _cipher(settings))
    interpreter_for = Interpreters(environments)
    mint, output = TokenMinter(store), AgentOutput(logs)
    leadership = Leadership()

    cluster = None
    if settings.executor == "kubernetes":  # docs/kubernetes.md
        from leoflow.engine.executors.kubernetes import connect_cluster

        cluster = await connect_cluster(
            context=settings.k8s_context, namespace=settings.k8s_namespace,
            advertised=settings.grpc_advertise_address, grpc_host=grpc_host)
        grpc_host = cluster.listen_host
    agent_server = AgentServer(grpc_host, grpc_port)  # bound now, serving once wired
    port = agent_server.port
    subprocess_executor = SubprocessExecutor(
        address=agent_addresses(settings.grpc_advertise_address, f"{grpc_host}:{port}"),
        mint_token=mint, on_agent_output=output.line, output_dir=home / "agents",
        # which OS user runs each tenant's tries, and what it may reach (docs/security.md)
        task_users=task_users(store, home=home, code_dir=home / "code",
                              code_roots=code_roots, interpreter_for=interpreter_for,
                              task_env=task_environments.env_for))
    http_io = HttpTaskIO(store, xcom, pushes)
    http_executor = HttpExecutor(push_xcom=http_io.push, resolve=http_io.resolve, logs=logs)
    # a task's own virtual environment is built before its agent starts (executors/
    # task_environment.py); in a DAG image (Kubernetes) the image holds the environment
    preparing = PreparingExecutor(subprocess_executor, task_environments, output.lines)
    executors: dict[str, Executor] = {"subprocess": preparing, "http": http_executor}
    pods = None
    if cluster is not None:
        pods = _kubernetes_executor(settings, store, cluster, port, mint, output)
        executors["kubernetes"] = pods
    listeners = list(listeners)
    # OpenTelemetry traces when OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set (engine/tracing)
    tracing = tracing_from_environment(os.environ, try_log=TraceLines(logs))
    if tracing is not None:
        listeners.append(tracing.listener)
    make_scheduler = SchedulerFactory(
        store, executors, default_executor="kubernetes" if pods else "subprocess",
        parallelism=parallelism, listeners=listeners, trigger_logs=logs,
        connection_lookup=secrets.connection, triggerer_id=settings.replica_id)

    def reported(ti_id: str) -> None:  # the try's agent reported: its exit is no crash
        subprocess_executor.note_reported(ti_id)
        if pods is not None:
            pods.note_reported(ti_id)

    relay = SchedulerRelay(store, make_scheduler(), is_leader=leadership.is_leader,
                           on_reported=reported)
    log_failures = TryLogFailures(store)  # a log that cannot be written fails its try
    log_failures.report = relay.report
    log_failures.cancel = lambda ti_id, reason, try_number: relay.cancel_task(
        ti_id, None, reason, try_number)
    logs.on_write_failed = log_failures.failed
    agent_service = ReplicaAgentService(
        store, report=relay.report, xcom=pushes, logs=LogSink(logs, log_failures),
        code_dir=home / "code", interpreter_for=interpreter_for, on_reported=reported,
        cancel=lambda ti_id, reason: relay.cancel_task(ti_id, None, reason),
        secrets_env=secrets.env, task_env=lambda task: task_environments.env_for(task.options),
        heartbeat_timeout=heartbeat_timeout, code_roots=code_roots,
        is_leader=leadership.is_leader, send=relay.send,
        cross_dag=CrossDagRuns(store, relay))  # TriggerDagRun of the real task runner
    relay.on_heartbeats = agent_service.heard  # second phase: the relay ↔ agents edge
    await agent_server.start(agent_service)
    services = Services(
        home=home, store=store, operations=Operations(store, relay), xcom=xcom, logs=logs,
        environments=environments, relay=relay, leadership=leadership,
        task_users=subprocess_executor.task_users)
    # a backfill starts its next dates when one of its runs ends (services/backfills)
    relay.scheduler.add_listener(backfills.run_listener(services.operations, store))
    sweeper = XComSweeper(stored)
    plane = ControlPlane(settings=settings, services=services, agent_service=agent_service,
                         subprocess_executor=subprocess_executor, http_executor=http_executor,
                         grpc_port=port)
    plane._closers.extend([sweeper.stop, lambda: agent_server.stop(grace=1.0), logs.close,
                           *datastores.closers, preparing.cancel_builds])
    if pods is not None:
        plane._closers.append(pods.close)
    if tracing is not None:
        plane._closers.insert(0, tracing.close)  # closed last: exports the last spans
    if store.is_sqlite:  # one process owns the file: no election
        if not campaign:
            log.warning("a control plane on SQLite always runs its scheduler")
        await agent_service.start()
        await relay.scheduler.start()
        sweeper.start()
        await backfills.feed_dag(services.operations, store)  # those open when it stopped
        return plane

    # PostgreSQL: replicas elect the one that schedules (docs/ha.md); every replica serves
    # the API and the agents.
    replica_id = settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"
    terms = SchedulerTerms(make_scheduler, relay, agent_service, executors, sweeper)
    elector = LeaderElector(asyncpg_connector(settings.database_url, replica_id),
                            replica_id=replica_id, on_elected=terms.elected,
                            on_lost=terms.lost, on_notify=relay.deliver, campaign=campaign)
    leadership.elect_with(elector)  # second phase: those asking now hear the election
    elector.start()
    agent_service.start_forwarding()  # heartbeats heard while following go to the leader
    plane._closers.append(agent_service.stop_forwarding)
    # Return once this replica knows whether it leads: a lone replica (a single server or
    # ``leoflow lite --postgres``) then schedules from the first request on.
    await elector.first_round(timeout=10.0)
    return plane


async def _cipher(settings: Settings) -> SecretCipher:
    """What decrypts the tenants' connections and variables (its keys read off-loop)."""
    from leoflow.engine.auth.cipher import SecretCipher
    from leoflow.engine.auth.config import AuthConfig, fernet_keys

    return SecretCipher(await asyncio.to_thread(fernet_keys, AuthConfig.from_settings(settings)))


def _kubernetes_executor(settings: Settings, store: Store, cluster: ClusterTarget, port: int,
                         mint: TokenMinter, output: AgentOutput) -> KubernetesExecutor:
    """One pod per try in the cluster; the image is the one the DAG's version records."""
    from leoflow.engine.executors.kubernetes import KubernetesExecutor

    return KubernetesExecutor(
        api_client=cluster.api_client, namespace=cluster.namespace,
        address=cluster.address(port), mint_token=mint, image_for=DagImages(store),
        on_agent_output=output.line, gc_delay=settings.k8s_pod_gc_delay)


def default_home() -> Path:
    return Settings.load().home
