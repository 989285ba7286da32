"""The agent service of a replica: heartbeats seen by a follower reach the leader.

The heartbeat watchdog runs on the leader only (a follower's would fail tries that are
alive and talking to another replica). But an agent may be talking to a follower (after a
failover, or through a cluster Service that spreads connections over the replicas): its
heartbeats then never reach the leader, whose watchdog would take it for dead. So a
follower collects the task instances it heard from and, once a second, sends their ids to
the leader (one ``NOTIFY`` per second, whatever the number of agents), which counts them as
heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

from leoflow.engine.agent_service.service import AgentService
from leoflow.rpc import agent_pb2 as pb

log = logging.getLogger("leoflow.ha")

BEATS_PER_MESSAGE = 150  # task instance ids per notification (a uuid is 36 bytes)


class ReplicaAgentService(AgentService):
    """``AgentService`` that forwards the heartbeats a follower hears (see module doc).

    ``is_leader()`` says whether this replica leads; ``send(message)`` delivers a message to
    the leader (``SchedulerRelay.send``). Start forwarding with ``start_forwarding()``.
    """

    def __init__(self, *args: Any, is_leader: Callable[[], bool],
                 send: Callable[[dict[str, Any]], Awaitable[None]],
                 forward_interval: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._is_leader = is_leader
        self._send = send
        self.forward_interval = forward_interval
        self._heard: set[str] = set()
        self._forwarder: asyncio.Task[None] | None = None

    async def Heartbeat(self, request: pb.HeartbeatRequest,
                        context: grpc.aio.ServicerContext) -> pb.HeartbeatResponse:
        response = await super().Heartbeat(request, context)
        if not response.stop and not self._is_leader():
            ti_id = dict(context.invocation_metadata() or ()).get("x-leoflow-ti")
            if isinstance(ti_id, str) and ti_id:  # a text key's value (only -bin are bytes)
                self._heard.add(ti_id)
        return response

    def heard(self, ti_ids: Iterable[str]) -> None:
        """On the leader: heartbeats another replica received count as received here."""
        now = time.monotonic()
        for ti_id in ti_ids:
            session = self._sessions.get(ti_id)
            if session is not None:
                session.last_seen = now

    def forget_sessions(self) -> None:
        """After losing leadership: sessions seen while leading would look silent to the
        watchdog of a later term."""
        self._sessions.clear()

    def start_forwarding(self) -> None:
        self._forwarder = asyncio.create_task(self._forward(), name="leoflow-beat-forwarder")

    async def stop_forwarding(self) -> None:
        if self._forwarder is not None:
            self._forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._forwarder
            self._forwarder = None

    async def _forward(self) -> None:
        while True:
            await asyncio.sleep(self.forward_interval)
            heard, self._heard = sorted(self._heard), set()
            if not heard or self._is_leader():
                continue
            for start in range(0, len(heard), BEATS_PER_MESSAGE):
                try:
                    await self._send({"op": "beats",
                                      "ids": heard[start:start + BEATS_PER_MESSAGE]})
                except Exception:  # the next round tries again with what it hears then
                    log.warning("could not forward heartbeats to the leader", exc_info=True)
