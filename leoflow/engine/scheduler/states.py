"""DAG run and task-instance states, the transitions between them, and try counting.

The names and sets are Airflow 3's (``airflow.utils.state``) because the API returns them
verbatim and users read them in the UI. Airflow has no single table of legal transitions; the
table here is the one Leoflow's engine promises to follow, written down so that the store and
the scheduler loop can refuse a write that would, for instance, move a finished task back to
``running``. A finished task instance leaves its state only through *clear* (or an explicit
*mark* by a user), never through an event of the normal flow.

Try counting follows Airflow 3 (2.10+): ``try_number`` is 0 until the task instance is first
scheduled and grows by one each time it is scheduled for a new try; ``max_tries`` starts at
``retries`` and clearing sets it to ``try_number + retries`` so that a cleared task gets its
full set of retries again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from leoflow.errors import LeoflowError


class DagRunState(StrEnum):
    """The four states of a DAG run (triggered runs start ``queued``)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class DagRunType(StrEnum):
    """How a run came to be; the prefix of generated run ids (``scheduled__…``)."""

    BACKFILL = "backfill"
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    OPERATOR_TRIGGERED = "operator_triggered"
    ASSET_TRIGGERED = "asset_triggered"
    ASSET_MATERIALIZATION = "asset_materialization"


class TaskInstanceState(StrEnum):
    """Task-instance states. "No state yet" is ``None``, not a member, exactly as in Airflow."""

    REMOVED = "removed"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    RESTARTING = "restarting"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    # A human-in-the-loop task waits for a person's answer (Airflow 3.1+); like deferred it
    # holds no process or slot, and a ``hitl`` trigger ends the wait.
    AWAITING_INPUT = "awaiting_input"


TIState = TaskInstanceState | None
"""A task instance's state; ``None`` means it has not been looked at (or was cleared)."""

TI = TaskInstanceState

FINISHED: frozenset[TIState] = frozenset(
    {TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED}
)
"""Terminal states: nothing in the normal flow moves a task instance out of them."""

UNFINISHED: frozenset[TIState] = frozenset(
    {None, TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.RESTARTING, TI.UP_FOR_RETRY,
     TI.UP_FOR_RESCHEDULE, TI.DEFERRED, TI.AWAITING_INPUT}
)
"""Everything that is not finished, ``None`` included (Airflow's ``State.unfinished``)."""

IN_FLIGHT: frozenset[TIState] = UNFINISHED - {None}
"""Unfinished states that will change without the scheduler deciding anything new (a worker,
a trigger or a retry timer owns the task instance); a run holding one is not deadlocked."""

SCHEDULABLE: frozenset[TIState] = frozenset({None, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE})
"""States the scheduler evaluates dependencies for (Airflow's ``SCHEDULEABLE_STATES``)."""

FAILED_STATES: frozenset[TIState] = frozenset({TI.FAILED, TI.UPSTREAM_FAILED})
SUCCESS_STATES: frozenset[TIState] = frozenset({TI.SUCCESS, TI.SKIPPED})

RUN_FINISHED: frozenset[DagRunState] = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})

MARKABLE: frozenset[TIState] = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED})
"""States a user may set by hand (the API's and UI's "mark as …")."""


# The normal flow. Same-state writes are always allowed (idempotent re-delivery of an event).
_TI_TRANSITIONS: Mapping[TIState, frozenset[TIState]] = {
    # The scheduler decides: run it, or resolve it without running (trigger rules, branches).
    # A start-from-trigger sensor goes straight to deferred (no executor; its try begins).
    # (A reschedule-mode one waits in up_for_reschedule, as Airflow shows it between pokes.)
    None: frozenset({TI.SCHEDULED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED, TI.DEFERRED,
                     TI.UP_FOR_RESCHEDULE}),
    # Handed to an executor (or, start from trigger, to the trigger runner); it may also be
    # put back (executor reset, adoption).
    TI.SCHEDULED: frozenset({TI.QUEUED, None, TI.REMOVED, TI.DEFERRED, TI.UP_FOR_RESCHEDULE}),
    # The agent starts it; an executor may fail it before it starts (with or without retry).
    # A start and a deferral/reschedule reported in one batch are written as one change.
    TI.QUEUED: frozenset({TI.RUNNING, TI.SCHEDULED, None, TI.FAILED, TI.UP_FOR_RETRY,
                          TI.REMOVED, TI.DEFERRED, TI.UP_FOR_RESCHEDULE,
                          TI.AWAITING_INPUT}),
    # What a try can end in; restarting is what clearing a running task does to it.
    TI.RUNNING: frozenset({TI.SUCCESS, TI.FAILED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE,
                           TI.DEFERRED, TI.SKIPPED, TI.RESTARTING, TI.REMOVED,
                           TI.AWAITING_INPUT}),
    # A cleared running task is killed and then always gets another try.
    TI.RESTARTING: frozenset({TI.UP_FOR_RETRY, TI.FAILED, TI.SUCCESS, TI.SKIPPED}),
    # A trigger fires (back to scheduled), times out, or ends the task itself.
    TI.DEFERRED: frozenset({TI.SCHEDULED, TI.FAILED, TI.UP_FOR_RETRY, TI.SUCCESS,
                            TI.SKIPPED}),
    TI.AWAITING_INPUT: frozenset({TI.SCHEDULED, TI.FAILED, TI.UP_FOR_RETRY, TI.SUCCESS,
                                  TI.SKIPPED}),
    # Waiting for a timer; an upstream change found on re-evaluation may still resolve it.
    # A reschedule-mode sensor waiting in the control plane ends there as deferred ones do.
    TI.UP_FOR_RETRY: frozenset({TI.SCHEDULED, TI.SKIPPED, TI.UPSTREAM_FAILED}),
    TI.UP_FOR_RESCHEDULE: frozenset({TI.SCHEDULED, TI.SKIPPED, TI.UPSTREAM_FAILED,
                                     TI.SUCCESS, TI.FAILED, TI.UP_FOR_RETRY}),
    # Terminal.
    TI.SUCCESS: frozenset(),
    TI.FAILED: frozenset(),
    TI.SKIPPED: frozenset(),
    TI.UPSTREAM_FAILED: frozenset(),
    TI.REMOVED: frozenset(),
}

_RUN_TRANSITIONS: Mapping[DagRunState, frozenset[DagRunState]] = {
    DagRunState.QUEUED: frozenset({DagRunState.RUNNING}),
    DagRunState.RUNNING: frozenset({DagRunState.SUCCESS, DagRunState.FAILED}),
    DagRunState.SUCCESS: frozenset(),
    DagRunState.FAILED: frozenset(),
}


class IllegalTransition(LeoflowError):
    """A state change that the state machine does not allow.

    Raised before anything is written, so seeing it means a caller's bug or a race (two events
    about the same task instance arriving out of order), never a user's mistake.
    """

    def __init__(self, old: object, new: object, *, kind: str = "task instance",
                 reason: str = "") -> None:
        self.old = old
        self.new = new
        self.kind = kind
        detail = f": {reason}" if reason else ""
        super().__init__(f"illegal {kind} transition {_name(old)} -> {_name(new)}{detail}")


def _name(state: object) -> str:
    return "none" if state is None else str(state)


def legal_targets(old: TIState) -> frozenset[TIState]:
    """The states the normal flow may move a task instance to from ``old``."""
    return _TI_TRANSITIONS[old]


def is_legal(old: TIState, new: TIState, *, via_clear: bool = False,
             via_mark: bool = False) -> bool:
    """Whether ``old -> new`` is allowed; see ``check_transition``."""
    try:
        check_transition(old, new, via_clear=via_clear, via_mark=via_mark)
    except IllegalTransition:
        return False
    return True


def check_transition(old: TIState, new: TIState, *, via_clear: bool = False,
                     via_mark: bool = False) -> None:
    """Raise ``IllegalTransition`` unless a task instance may go from ``old`` to ``new``.

    ``via_clear``: the change is a *clear*. Clearing resets any state to ``None`` except a
    running one, which becomes ``restarting`` (the agent is stopped and the task gets another
    try, as in Airflow). This is the only way out of a finished state.

    ``via_mark``: a user marks the task instance ``success``, ``failed`` or ``skipped`` by hand;
    allowed from any state because it is an explicit override.
    """
    old, new = _coerce(old), _coerce(new)
    if old == new:
        return
    if via_clear:
        if old == TI.RUNNING:
            if new == TI.RESTARTING:
                return
            raise IllegalTransition(old, new, reason="clearing a running task instance "
                                    "makes it restarting")
        if new is None:
            return
        raise IllegalTransition(old, new, reason="clearing resets the state to none")
    if via_mark:
        if new in MARKABLE:
            return
        raise IllegalTransition(old, new, reason="only success, failed and skipped can be "
                                "set by hand")
    if new in _TI_TRANSITIONS[old]:
        return
    if old in FINISHED:
        raise IllegalTransition(old, new, reason=f"{old} is final; only a clear leaves it")
    raise IllegalTransition(old, new)


def check_run_transition(old: DagRunState, new: DagRunState, *, via_clear: bool = False,
                         via_mark: bool = False) -> None:
    """Raise ``IllegalTransition`` unless a DAG run may go from ``old`` to ``new``.

    Clearing puts a run of any state back to ``queued``; a user may mark any run ``success``
    or ``failed`` (or ``queued``, which the API also allows) by hand.
    """
    old, new = DagRunState(old), DagRunState(new)
    if old == new:
        return
    if via_clear and new == DagRunState.QUEUED:
        return
    if via_mark:
        return
    if new in _RUN_TRANSITIONS[old]:
        return
    raise IllegalTransition(old, new, kind="DAG run")


def _coerce(state: TIState | str) -> TIState:
    return None if state is None else TaskInstanceState(state)


# --- try_number / max_tries ------------------------------------------------------------


@dataclass(frozen=True)
class Tries:
    """The part of a task instance that retry arithmetic needs."""

    state: TIState = None
    try_number: int = 0
    max_tries: int = 0


def new_tries(retries: int) -> Tries:
    """A task instance as created with its run: no state, try 0, ``max_tries = retries``."""
    return Tries(state=None, try_number=0, max_tries=retries)


def on_scheduled(t: Tries) -> Tries:
    """The task instance is scheduled: a new try begins, so ``try_number`` grows by one.

    Resuming is not a new try: coming back from ``up_for_reschedule`` (a sensor's next poke)
    or from ``deferred`` (a trigger fired) keeps the number, as Airflow's ``schedule_tis`` and
    trigger resumption do.
    """
    check_transition(t.state, TI.SCHEDULED)
    bump = t.state not in (TI.UP_FOR_RESCHEDULE, TI.DEFERRED, TI.SCHEDULED)
    return replace(t, state=TI.SCHEDULED, try_number=t.try_number + (1 if bump else 0))


def on_clear(t: Tries, retries: int) -> Tries:
    """Clear the task instance: it will run again with its full ``retries``.

    A running one becomes ``restarting`` and keeps its counters (the running try ends as a
    retry); any other goes back to ``None`` with ``max_tries = try_number + retries``.
    """
    if t.state == TI.RUNNING:
        return replace(t, state=TI.RESTARTING)
    return replace(t, state=None, max_tries=t.try_number + retries)


def can_retry(t: Tries, *, retries: int) -> bool:
    """Whether a failing try may be retried (Airflow's ``is_eligible_to_retry``).

    A restarting task instance always may (it was cleared while running). Otherwise the task
    must have retries at all and ``try_number <= max_tries``: with ``retries=1`` try 1 retries
    and try 2 fails for good.
    """
    if t.state == TI.RESTARTING:
        return True
    return retries > 0 and t.try_number <= t.max_tries


def on_failure(t: Tries, *, retries: int) -> Tries:
    """A try failed: ``up_for_retry`` when another try is allowed, else ``failed``."""
    new = TI.UP_FOR_RETRY if can_retry(t, retries=retries) else TI.FAILED
    check_transition(t.state, new)
    return replace(t, state=new)
