"""Who is calling: an agent's token checked against the try it claims (fencing).

The token is the try's attempt identity (docs/security.md, "Crash consistency"). The calls
that let an agent act (``Authenticate``, ``FetchTask``, ``PushXCom``, ``ReportState``, the
state stores) check it against the store every time, with the task instance's current try,
so an agent of a replaced or revoked attempt is refused before it runs user code or writes
anything. Heartbeats, log lines and XCom reads use the session cached by the last check.
``Authenticate`` records the start (pid, host) in the try's row, committed before the agent
is answered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc

from leoflow.engine.store import Store, task_instances, tokens
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.rpc import agent_pb2 as pb

IN_FLIGHT = ("queued", "running")  # where a try's agent may start and act


@dataclass
class Session:
    """An agent the service has checked: its try, its token, when it was last heard."""

    ti_id: str
    try_number: int
    token: str
    last_seen: float
    # the task instance as the last check read it, for what never changes for its id (dag,
    # run, task, map index: the log's key); its state is never taken from here
    named: TaskInstanceRow | None = None


class Fencing:
    """The sessions of the agents that passed the check, by task instance id."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sessions: dict[str, Session] = {}

    async def authorize(self, context: grpc.aio.ServicerContext, *, fenced: bool = True,
                        starting: bool = False, reporting: bool = False) -> Session:
        """The caller's session, its token checked.

        ``fenced`` calls (everything that lets an agent act or write) are checked against
        the store every time: the token must be the task instance's current attempt (same
        try number; not revoked or replaced), not already reported (except a retried
        ``ReportState``); ``starting`` calls also need the try in flight. Heartbeats, log
        lines and XCom reads use the session cached by the last check."""
        session, _ti = await self.authorize_row(context, fenced=fenced, starting=starting,
                                                reporting=reporting)
        return session

    async def authorize_row(self, context: grpc.aio.ServicerContext, *, fenced: bool = True,
                            starting: bool = False, reporting: bool = False
                            ) -> tuple[Session, TaskInstanceRow | None]:
        """``authorize``, and the task instance row the check read (in the same connection
        as the token, so a call need not read it again); ``None`` when the cached session
        answered an unfenced call and nothing was read."""
        ti_id, token = await self._caller(context)
        session = self.sessions.get(ti_id)
        if not fenced and session is not None and session.token == token:
            session.last_seen = time.monotonic()
            return session, None
        return await self._check(context, ti_id, token, starting=starting,
                                 reporting=reporting)

    async def checked(self, context: grpc.aio.ServicerContext, *, starting: bool = False,
                      reporting: bool = False) -> tuple[Session, TaskInstanceRow]:
        """A fenced ``authorize`` (checked against the store), and the task instance row
        the check read."""
        ti_id, token = await self._caller(context)
        return await self._check(context, ti_id, token, starting=starting,
                                 reporting=reporting)

    @staticmethod
    async def _caller(context: grpc.aio.ServicerContext) -> tuple[str, str]:
        """The task instance id and the token the call's metadata carries."""
        metadata = {k: v for k, v in (context.invocation_metadata() or ())
                    if isinstance(v, str)}
        ti_id = metadata.get("x-leoflow-ti", "")
        bearer = metadata.get("authorization", "")
        token = bearer[7:] if bearer.lower().startswith("bearer ") else ""
        if not ti_id or not token:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "missing x-leoflow-ti or authorization metadata")
        return ti_id, token

    async def start(self, context: grpc.aio.ServicerContext, request: pb.AuthenticateRequest
                    ) -> tuple[Session, TaskInstanceRow]:
        """``Authenticate``'s check (``starting``) and its start (pid, host) recorded in the
        try's token row, in one transaction committed before the agent is answered: in the
        row a restart's revocation also writes, so an agent either starts here, or is
        refused because its try was handed to another."""
        ti_id, token = await self._caller(context)
        return await self._check(context, ti_id, token, starting=True, reporting=False,
                                 start=request)

    async def _check(self, context: grpc.aio.ServicerContext, ti_id: str, token: str, *,
                     starting: bool, reporting: bool,
                     start: pb.AuthenticateRequest | None = None
                     ) -> tuple[Session, TaskInstanceRow]:
        """The token and the task instance, read together from the store and checked; with
        ``start``, the start recorded in the same write transaction."""
        session = self.sessions.get(ti_id)
        started = True
        async with self.store.begin() if start is not None else self.store.connect() as conn:
            attempt = await tokens.check_token(conn, ti_id, token)
            ti = None if attempt is None else \
                await task_instances.get_task_instance_by_id(conn, ti_id)
            refusal = _refusal(attempt, ti, starting=starting, reporting=reporting)
            if start is not None and refusal is None and attempt is not None:
                started = await tokens.record_start(conn, ti_id, token, attempt.try_number,
                                                    pid=start.pid or None,
                                                    hostname=start.hostname)
        if not started:
            refusal = ("this try's token was revoked (the control plane restarted and "
                       "handed the try to another agent)")
        if refusal is not None or attempt is None or ti is None:
            if session is not None and session.token == token:
                self.sessions.pop(ti_id, None)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal or "")
            raise grpc.RpcError(refusal)  # abort raises; this keeps type checkers sure of it
        if session is None or session.token != token:
            session = Session(ti_id, attempt.try_number, token, time.monotonic())
            if attempt.reported_at is None:
                self.sessions[ti_id] = session
        session.last_seen = time.monotonic()
        session.named = ti
        return session, ti


def _refusal(attempt: tokens.Attempt | None, ti: TaskInstanceRow | None, *, starting: bool,
             reporting: bool) -> str | None:
    """Why the token does not let its agent make this call, or None."""
    if attempt is None or ti is None:
        return "invalid or expired task token for this task instance"
    if ti.try_number != attempt.try_number:
        return (f"this agent's try {attempt.try_number} is not the task instance's "
                f"current try {ti.try_number}")
    if attempt.reported_at is not None and not reporting:
        return "this try already reported its state; its token is spent"
    if starting and ti.state not in IN_FLIGHT:
        return f"the task instance is {ti.state}, not queued or running"
    return None
