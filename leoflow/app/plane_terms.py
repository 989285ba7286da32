"""Terms of leadership: what a replica starts when it is elected and stops when it is not.

On PostgreSQL replicas elect the one that schedules (docs/ha.md). Each term gets a fresh
scheduler: nothing in memory from an earlier term (views, slots, timers) outlives the state
it was built from. The relay is then pointed at it, so ``Services.scheduler`` (and every
face that reads it) follows. On SQLite there is one term, begun at start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from leoflow.engine.agent_service.replica import ReplicaAgentService
from leoflow.engine.executors.base import Executor
from leoflow.engine.ha import SchedulerRelay
from leoflow.engine.logs import LogStore
from leoflow.engine.scheduler.loop import Scheduler
from leoflow.engine.services import assets
from leoflow.engine.services.cross_dag import CrossDagRuns
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store import Store
from leoflow.engine.triggers.runner import TenantConnectionLookup
from leoflow.engine.xcom import XComSweeper

Listener = Callable[[str, dict[str, Any]], None]


class SchedulerFactory:
    """Builds the scheduler of a term over the plane's executors."""

    def __init__(self, store: Store, executors: Mapping[str, Executor], *,
                 default_executor: str, parallelism: int, listeners: Sequence[Listener],
                 trigger_logs: LogStore, connection_lookup: TenantConnectionLookup,
                 triggerer_id: str | None) -> None:
        self.store = store
        self.executors = executors
        self.default_executor = default_executor
        self.parallelism = parallelism
        self.listeners = list(listeners)  # those given at start
        self.trigger_logs = trigger_logs
        self.connection_lookup = connection_lookup
        self.triggerer_id = triggerer_id

    def executor_for(self, task: TaskSpec) -> str:
        # the real Airflow's HttpOperator (runtime airflow) runs in an agent like its others
        inline = task.operator == "http" and task.runtime != "airflow"
        return "http" if inline else self.default_executor

    def __call__(self) -> Scheduler:
        made = Scheduler(
            self.store, self.executors, assets=assets, parallelism=self.parallelism,
            listeners=self.listeners,
            executor_for=self.executor_for, trigger_logs=self.trigger_logs,
            connection_lookup=self.connection_lookup, triggerer_id=self.triggerer_id)
        # TriggerDagRunOperator: its trigger creates runs through the cross-DAG service
        made.triggers.dag_runs = CrossDagRuns(self.store, made)
        return made


class SchedulerTerms:
    """The elector's ``on_elected`` / ``on_lost`` for one replica."""

    def __init__(self, make_scheduler: SchedulerFactory, relay: SchedulerRelay,
                 agent_service: ReplicaAgentService, executors: Mapping[str, Executor],
                 sweeper: XComSweeper) -> None:
        self.make_scheduler = make_scheduler
        self.relay = relay
        self.agent_service = agent_service
        self.executors = executors
        self.sweeper = sweeper
        self.terms = 0

    async def elected(self) -> None:
        self.terms += 1
        if self.terms > 1:  # the first term uses the scheduler everyone was given
            previous, fresh = self.relay.scheduler, self.make_scheduler()
            for listener in previous._listeners:  # those added later (the IDE, tests)
                if listener not in self.make_scheduler.listeners:
                    fresh.add_listener(listener)
            self.relay.scheduler = fresh
        # Reports this replica relayed while the old leader was dying come first, before
        # what the start concludes itself (an agent that has since exited: "failed").
        await self.relay.replay_kept()
        await self.agent_service.start()  # the heartbeat watchdog is the leader's job
        await self.relay.scheduler.start()
        for executor in self.executors.values():
            # an agent this replica supervises that ends after a hand-over is reported to
            # whichever replica leads by then
            executor.set_callback(self.relay.report)
        self.sweeper.start()

    async def lost(self) -> None:
        await self.relay.scheduler.stop()
        await self.agent_service.stop()
        self.agent_service.forget_sessions()
        await self.sweeper.stop()
