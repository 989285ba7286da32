"""``Services``: what every face of a running control plane is given, built once.

The API (``engine/api``), the IDE (``leoflow.ide``), the CLI and hot reload receive this one
typed, frozen object from the composition root (``leoflow.app.controlplane``) instead of
the control plane itself: they see the services and backends they may use, never the
executors, the agent service or the gRPC server, and nothing is looked up by name. The type
lives in the engine so that the API and the IDE may import it (DESIGN.md: app → ide →
engine).

The scheduler is not a field: a replica builds a fresh one for each term of leadership
(``leoflow.app.plane_terms``). ``relay`` is the stable handle (it wakes whichever scheduler
leads), and ``scheduler`` reads the one that runs in this process now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leoflow.engine.environments.manager import EnvironmentManager
    from leoflow.engine.executors.isolation import TaskUsers
    from leoflow.engine.ha.relay import SchedulerRelay
    from leoflow.engine.logs import LogStore
    from leoflow.engine.scheduler.loop import Scheduler
    from leoflow.engine.services.leadership import Leadership
    from leoflow.engine.services.operations import Operations
    from leoflow.engine.store import Store
    from leoflow.engine.xcom import XComBackend


@dataclass(frozen=True)
class Services:
    """The services and backends of one control plane.

    ``home`` is its state folder (the compiler's scratch space, environments, logs);
    ``xcom`` reads and writes XCom values (SQL or Redis); ``environments`` builds the
    per-DAG virtual environments; ``relay`` is the scheduler's input, leader or not;
    ``leadership`` says whether this replica schedules; ``task_users`` says which OS user
    runs (and compiles) each tenant's code (None: no tenant isolation wired).
    """

    home: Path
    store: Store
    operations: Operations
    xcom: XComBackend
    logs: LogStore
    environments: EnvironmentManager
    relay: SchedulerRelay
    leadership: Leadership
    task_users: TaskUsers | None = None

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler of this process's current term (listeners, the trigger runner)."""
        current: Scheduler = self.relay.scheduler
        return current
