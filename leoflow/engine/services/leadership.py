"""Which replica runs the scheduler: the answer every face asks the same service for.

On SQLite one process does everything, so it always leads. On PostgreSQL replicas elect the
one that schedules (``leoflow.engine.ha.elector``); the API's ``/api/leoflow/ha``, the
health's scheduler heartbeat, the ``leoflow_scheduler_leader`` gauge, the agent service and
the relay all read it here instead of reaching into the elector.

Wiring is in two phases because the elector's callbacks need the parts that ask this
service whether they lead: the composition root makes a ``Leadership`` first, hands
``is_leader`` to those parts, then builds the elector and gives it here once (``elect_with``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leoflow.engine.ha.elector import LeaderElector


@dataclass(frozen=True)
class HaStatus:
    """What ``GET /api/leoflow/ha`` answers. ``election`` is false on SQLite (one process
    runs everything); ``leader`` is the replica id holding the lock (None during a
    hand-over) and ``latest_scheduler_heartbeat`` its last health check of the lock."""

    election: bool
    replica_id: str | None
    is_leader: bool
    leader: str | None
    latest_scheduler_heartbeat: datetime | None

    def as_json(self) -> dict[str, object]:
        return {"election": self.election, "replica_id": self.replica_id,
                "is_leader": self.is_leader, "leader": self.leader,
                "latest_scheduler_heartbeat": _iso(self.latest_scheduler_heartbeat)}


class Leadership:
    """This replica's part in the election, or the lone process's (no elector: it leads)."""

    def __init__(self) -> None:
        self._elector: LeaderElector | None = None
        self._last_beat: datetime | None = None

    def elect_with(self, elector: LeaderElector) -> None:
        """Second phase of the wiring: the elector this replica campaigns (or follows) with."""
        if self._elector is not None:
            raise RuntimeError("this replica already has an elector")
        self._elector = elector

    @property
    def elector(self) -> LeaderElector | None:
        return self._elector

    @property
    def election(self) -> bool:
        """Whether replicas elect the scheduler (PostgreSQL), rather than one process."""
        return self._elector is not None

    def is_leader(self) -> bool:
        """Whether this process runs the scheduler (always, without an election)."""
        return self._elector is None or self._elector.is_leader

    def heartbeat(self) -> datetime | None:
        """When the leading replica last proved it holds the lock (``None``: no election,
        the scheduler runs in this process). The last one seen is kept through a
        hand-over."""
        if self._elector is None:
            return None
        leader = self._elector.leader
        if leader is not None and leader.heartbeat is not None:
            self._last_beat = leader.heartbeat
        return self._last_beat

    def status(self) -> HaStatus:
        elector = self._elector
        if elector is None:
            return HaStatus(False, None, True, None, None)
        leader = elector.leader
        return HaStatus(True, elector.replica_id, elector.is_leader,
                        leader.replica_id if leader else None, self.heartbeat())


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
