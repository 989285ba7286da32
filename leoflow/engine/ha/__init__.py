"""Several control-plane replicas on one PostgreSQL: one scheduler, elected.

Usage::

    from leoflow.engine.ha import LeaderElector, SchedulerRelay, asyncpg_connector

    relay = SchedulerRelay(store, scheduler, is_leader=lambda: elector.is_leader)
    elector = LeaderElector(asyncpg_connector(url, "replica-a"), replica_id="replica-a",
                            on_elected=..., on_lost=..., on_notify=relay.deliver)
    elector.start()

See docs/ha.md.
"""

from leoflow.engine.ha.elector import (
    DEFAULT_INTERVAL,
    NOTIFY_CHANNEL,
    LeaderElector,
    LeaderInfo,
    asyncpg_connector,
)
from leoflow.engine.ha.relay import SchedulerRelay

__all__ = [
    "DEFAULT_INTERVAL",
    "NOTIFY_CHANNEL",
    "LeaderElector",
    "LeaderInfo",
    "SchedulerRelay",
    "asyncpg_connector",
]
