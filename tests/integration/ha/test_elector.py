"""Leader election on a real PostgreSQL (pgserver): exactly one of several electors leads;
when the leader's connection goes, another takes over within seconds; followers' nudges
reach the leader through NOTIFY."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from leoflow.engine.ha import LeaderElector, SchedulerRelay, asyncpg_connector
from leoflow.engine.store import Store

pytestmark = pytest.mark.postgres

INTERVAL = 0.2


class Recorder:
    """One replica's view of the election: when it was elected and when it lost."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[tuple[str, float]] = []
        self.notes: list[dict[str, Any]] = []

    async def elected(self) -> None:
        self.events.append(("elected", time.monotonic()))

    async def lost(self) -> None:
        self.events.append(("lost", time.monotonic()))


def elector(url: str, recorder: Recorder, **kwargs: Any) -> LeaderElector:
    return LeaderElector(asyncpg_connector(url, recorder.name), replica_id=recorder.name,
                         on_elected=recorder.elected, on_lost=recorder.lost,
                         on_notify=recorder.notes.append, interval=INTERVAL, **kwargs)


async def wait_for(condition: Any, timeout: float = 10.0) -> float:
    """Seconds until ``condition()`` held (fails after ``timeout``)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "timed out"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_exactly_one_leads_and_a_closed_connection_hands_over(postgres_url: str) -> None:
    recorders = [Recorder(f"replica-{i}") for i in range(3)]
    electors = [elector(postgres_url, r) for r in recorders]
    for e in electors:
        e.start()
    try:
        await wait_for(lambda: any(e.is_leader for e in electors))
        await asyncio.sleep(5 * INTERVAL)  # several campaign rounds: still exactly one
        leaders = [e for e in electors if e.is_leader]
        assert len(leaders) == 1
        first = leaders[0]
        # every replica knows who leads, with a recent heartbeat
        await wait_for(lambda: all(e.leader is not None for e in electors))
        assert {e.leader.replica_id for e in electors} == {first.replica_id}

        # the leader's lock connection dies (as when its process is killed)
        first._conn.terminate()
        took = await wait_for(lambda: any(e.is_leader for e in electors if e is not first))
        assert took < 3.0
        assert not first.is_leader
        lost = next(r for r in recorders if r.name == first.replica_id)
        assert [kind for kind, _ in lost.events] == ["elected", "lost"]
        await asyncio.sleep(5 * INTERVAL)
        assert sum(e.is_leader for e in electors) == 1  # the old one did not come back too
    finally:
        for e in electors:
            await e.stop()


async def test_stop_frees_the_lock_at_once(postgres_url: str) -> None:
    a, b = Recorder("a"), Recorder("b")
    first, second = elector(postgres_url, a), elector(postgres_url, b)
    first.start()
    await wait_for(lambda: first.is_leader)
    second.start()
    await asyncio.sleep(3 * INTERVAL)
    assert not second.is_leader
    await first.stop()
    assert [kind for kind, _ in a.events] == ["elected", "lost"]
    took = await wait_for(lambda: second.is_leader)
    assert took < 1.0
    await second.stop()


async def test_a_followers_nudges_reach_the_leader(postgres_url: str) -> None:
    """The relay on a follower NOTIFYs; the leader's elector hands the message over."""
    store = await Store.open(postgres_url, auto_migrate=True)
    leader_side, follower_side = Recorder("leader"), Recorder("follower")
    leader = elector(postgres_url, leader_side)
    leader.start()
    try:
        await wait_for(lambda: leader.is_leader)

        class NoScheduler:
            def wake_run(self, _id: int) -> None:
                raise AssertionError("a follower must not wake its own scheduler")

        relay = SchedulerRelay(store, NoScheduler(), is_leader=lambda: False)
        relay.wake_run(42)
        relay.wake_dag("etl")
        await relay.cancel_task("ti-1", "subprocess", "cleared", 2)
        from leoflow.engine.executors.base import ExecutorEvent

        await relay.report(ExecutorEvent("ti-2", 1, "failed", error="x" * 20000))
        await wait_for(lambda: len(leader_side.notes) == 4)
        ops = sorted(leader_side.notes, key=lambda m: m["op"])
        assert [m["op"] for m in ops] == ["cancel", "event", "wake_dag", "wake_run"]
        assert ops[0]["try_number"] == 2 and ops[3]["id"] == 42
        assert ops[1]["error"].startswith("(shortened)") and ops[1]["error"].endswith("xxx")
        assert follower_side.notes == []
    finally:
        await leader.stop()
        await store.close()


async def test_heartbeats_a_follower_hears_keep_the_leaders_watchdog_quiet(
        postgres_url: str, tmp_path: Any) -> None:
    """An agent heartbeating a follower must not look dead to the leader's watchdog: the
    follower forwards what it heard once a second, and the leader counts it."""
    from leoflow.engine.agent_service.fencing import Session as _Session
    from leoflow.engine.agent_service.replica import ReplicaAgentService

    store = await Store.open(postgres_url, auto_migrate=True)

    def service(leading: bool, send: Any) -> ReplicaAgentService:
        async def report(_event: Any) -> None: ...

        return ReplicaAgentService(
            store, report=report, xcom=None, logs=None, code_dir=tmp_path,
            interpreter_for=lambda _spec: "python", is_leader=lambda: leading, send=send,
            forward_interval=0.1)

    leader_service = service(True, send=None)
    relay = SchedulerRelay(store, None, is_leader=lambda: True,
                           on_heartbeats=leader_service.heard)
    leader_side = Recorder("leader")
    leader = LeaderElector(asyncpg_connector(postgres_url, "leader"), replica_id="leader",
                           on_elected=leader_side.elected, on_lost=leader_side.lost,
                           on_notify=relay.deliver, interval=INTERVAL)
    follower_relay = SchedulerRelay(store, None, is_leader=lambda: False)
    follower_service = service(False, send=follower_relay.send)
    leader.start()
    try:
        await wait_for(lambda: leader.is_leader)
        # the leader tracks a try whose agent it has not heard from for a while
        leader_service._sessions["ti-9"] = _Session("ti-9", 1, "", time.monotonic() - 60)
        follower_service._heard.add("ti-9")  # what Heartbeat records on a follower
        follower_service.start_forwarding()
        await wait_for(lambda: time.monotonic() - leader_service._sessions["ti-9"].last_seen
                       < 5)
    finally:
        await follower_service.stop_forwarding()
        await leader.stop()
        await store.close()


async def test_a_leader_whose_session_the_server_ends_stops_at_once(postgres_url: str) -> None:
    """The database ends the leader's session (an admin, a failover, a network cut the
    server noticed): the leader steps down within about a check and another leads."""
    a, b = Recorder("a"), Recorder("b")
    first, second = elector(postgres_url, a), elector(postgres_url, b)
    first.start()
    await wait_for(lambda: first.is_leader)
    second.start()
    admin = await asyncpg_connector(postgres_url, "admin")()
    try:
        ended = time.monotonic()
        assert await admin.fetchval(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'leoflow-scheduler:a'")
        await wait_for(lambda: not first.is_leader, timeout=5)
        stepped_down = a.events[-1][1] - ended
        assert a.events[-1][0] == "lost" and stepped_down < 2.5
        await wait_for(lambda: second.is_leader, timeout=5)
        assert not first.is_leader
    finally:
        await admin.close()
        await first.stop()
        await second.stop()
