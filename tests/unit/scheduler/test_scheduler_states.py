"""States, the transition table, and try_number arithmetic as Airflow 3 counts it."""

from __future__ import annotations

import itertools

import pytest

from leoflow.engine.scheduler.states import (
    FINISHED,
    IN_FLIGHT,
    SCHEDULABLE,
    UNFINISHED,
    DagRunState,
    DagRunType,
    IllegalTransition,
    TaskInstanceState,
    Tries,
    can_retry,
    check_run_transition,
    check_transition,
    is_legal,
    legal_targets,
    new_tries,
    on_clear,
    on_failure,
    on_scheduled,
)
from leoflow.errors import LeoflowError

TI = TaskInstanceState
ALL: list[TaskInstanceState | None] = [None, *TaskInstanceState]


def test_values_are_airflows() -> None:
    assert [s.value for s in DagRunState] == ["queued", "running", "success", "failed"]
    assert {s.value for s in TaskInstanceState} == {
        "removed", "scheduled", "queued", "running", "success", "restarting", "failed",
        "up_for_retry", "up_for_reschedule", "upstream_failed", "skipped", "deferred",
        "awaiting_input"}  # Airflow 3.1+: a human-in-the-loop task waits for a person
    assert {t.value for t in DagRunType} == {
        "backfill", "scheduled", "manual", "operator_triggered", "asset_triggered",
        "asset_materialization"}
    assert TI("up_for_retry") is TI.UP_FOR_RETRY


def test_state_sets() -> None:
    assert {TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED} == FINISHED
    assert set(ALL) == FINISHED | UNFINISHED
    assert not FINISHED & UNFINISHED
    assert None in UNFINISHED and None not in IN_FLIGHT
    assert {None, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE} == SCHEDULABLE


@pytest.mark.parametrize(("old", "new"), [
    (None, TI.SCHEDULED), (None, TI.SKIPPED), (None, TI.UPSTREAM_FAILED),
    (TI.SCHEDULED, TI.QUEUED), (TI.QUEUED, TI.RUNNING), (TI.RUNNING, TI.SUCCESS),
    (TI.RUNNING, TI.FAILED), (TI.RUNNING, TI.UP_FOR_RETRY), (TI.RUNNING, TI.SKIPPED),
    (TI.RUNNING, TI.DEFERRED), (TI.DEFERRED, TI.SCHEDULED), (TI.RUNNING, TI.UP_FOR_RESCHEDULE),
    (TI.RUNNING, TI.AWAITING_INPUT), (TI.AWAITING_INPUT, TI.SCHEDULED),
    (TI.UP_FOR_RESCHEDULE, TI.SCHEDULED), (TI.UP_FOR_RETRY, TI.SCHEDULED),
    (TI.QUEUED, TI.FAILED), (TI.RUNNING, TI.RESTARTING), (TI.RESTARTING, TI.UP_FOR_RETRY),
    (TI.SUCCESS, TI.SUCCESS),  # re-delivered event: no change
    # a reschedule-mode sensor waiting in the control plane from its start
    (None, TI.UP_FOR_RESCHEDULE), (TI.SCHEDULED, TI.UP_FOR_RESCHEDULE),
    (TI.UP_FOR_RESCHEDULE, TI.SUCCESS), (TI.UP_FOR_RESCHEDULE, TI.FAILED),
])
def test_legal_transitions(old: TaskInstanceState | None, new: TaskInstanceState | None) -> None:
    check_transition(old, new)
    assert is_legal(old, new)


@pytest.mark.parametrize(("old", "new"), [
    (None, TI.RUNNING), (None, TI.SUCCESS), (TI.SCHEDULED, TI.SUCCESS),
    (TI.QUEUED, TI.SUCCESS), (TI.UP_FOR_RETRY, TI.RUNNING), (TI.UP_FOR_RETRY, TI.SUCCESS),
    (TI.UP_FOR_RESCHEDULE, TI.RUNNING),
])
def test_illegal_transitions(old: TaskInstanceState | None, new: TaskInstanceState | None) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(old, new)
    assert isinstance(info.value, LeoflowError)
    assert info.value.old == old and info.value.new == new


@pytest.mark.parametrize(("old", "new"), [
    (old, new) for old, new in itertools.product(sorted(FINISHED, key=str), ALL) if old != new
])
def test_finished_is_left_only_through_clear(old: TaskInstanceState,
                                             new: TaskInstanceState | None) -> None:
    with pytest.raises(IllegalTransition, match="only a clear leaves it"):
        check_transition(old, new)
    assert is_legal(old, None, via_clear=True)
    assert is_legal(old, new, via_clear=True) == (new is None)


def test_clear_resets_every_state_but_running() -> None:
    for old in ALL:
        if old == TI.RUNNING:
            assert not is_legal(old, None, via_clear=True)
            check_transition(old, TI.RESTARTING, via_clear=True)
        else:
            check_transition(old, None, via_clear=True)


def test_mark_by_hand() -> None:
    for old, new in itertools.product(ALL, [TI.SUCCESS, TI.FAILED, TI.SKIPPED]):
        check_transition(old, new, via_mark=True)
    with pytest.raises(IllegalTransition):
        check_transition(TI.FAILED, TI.RUNNING, via_mark=True)


def test_table_covers_every_state_and_accepts_strings() -> None:
    for state in ALL:
        assert legal_targets(state) <= set(ALL)
    check_transition("running", "success")  # type: ignore[arg-type]
    assert legal_targets(TI.SUCCESS) == frozenset()


def test_run_transitions() -> None:
    R = DagRunState
    check_run_transition(R.QUEUED, R.RUNNING)
    check_run_transition(R.RUNNING, R.SUCCESS)
    check_run_transition(R.RUNNING, R.FAILED)
    with pytest.raises(IllegalTransition):
        check_run_transition(R.SUCCESS, R.RUNNING)
    with pytest.raises(IllegalTransition):
        check_run_transition(R.FAILED, R.QUEUED)
    check_run_transition(R.FAILED, R.QUEUED, via_clear=True)
    check_run_transition(R.SUCCESS, R.QUEUED, via_clear=True)
    check_run_transition(R.RUNNING, R.QUEUED, via_clear=True)
    check_run_transition(R.RUNNING, R.SUCCESS, via_mark=True)
    check_run_transition(R.FAILED, R.SUCCESS, via_mark=True)


# --- try_number ---------------------------------------------------------------------------


def _run_try(t: Tries) -> Tries:
    t = on_scheduled(t)
    check_transition(t.state, TI.QUEUED)
    check_transition(TI.QUEUED, TI.RUNNING)
    return Tries(state=TI.RUNNING, try_number=t.try_number, max_tries=t.max_tries)


def test_never_queued_task_stays_at_try_zero() -> None:
    t = new_tries(retries=3)
    assert (t.state, t.try_number, t.max_tries) == (None, 0, 3)


def test_retries_one_failing_task_ends_failed_at_try_two() -> None:
    # Airflow 3.3: retries=1 -> failed with try_number=2, max_tries=1.
    t = new_tries(retries=1)
    t = _run_try(t)
    assert t.try_number == 1
    t = on_failure(t, retries=1)
    assert t.state == TI.UP_FOR_RETRY
    t = _run_try(t)
    assert t.try_number == 2
    t = on_failure(t, retries=1)
    assert (t.state, t.try_number, t.max_tries) == (TI.FAILED, 2, 1)


def test_no_retries_fails_at_once() -> None:
    t = on_failure(_run_try(new_tries(retries=0)), retries=0)
    assert (t.state, t.try_number) == (TI.FAILED, 1)


def test_clear_keeps_try_number_and_extends_max_tries() -> None:
    # Observed: cleared success task -> state None, try 1, max_tries 1; after the rerun, try 2.
    t = _run_try(new_tries(retries=0))
    t = Tries(state=TI.SUCCESS, try_number=t.try_number, max_tries=t.max_tries)
    t = on_clear(t, retries=0)
    assert (t.state, t.try_number, t.max_tries) == (None, 1, 1)
    t = _run_try(t)
    assert t.try_number == 2

    failed = Tries(state=TI.FAILED, try_number=3, max_tries=2)
    cleared = on_clear(failed, retries=2)
    assert (cleared.state, cleared.try_number, cleared.max_tries) == (None, 3, 5)
    t = _run_try(cleared)
    assert t.try_number == 4 and can_retry(t, retries=2)


def test_clear_while_running_restarts_and_always_retries() -> None:
    t = on_clear(Tries(state=TI.RUNNING, try_number=1, max_tries=0), retries=0)
    assert (t.state, t.try_number, t.max_tries) == (TI.RESTARTING, 1, 0)
    assert can_retry(t, retries=0)
    assert on_failure(t, retries=0).state == TI.UP_FOR_RETRY


def test_resuming_is_not_a_new_try() -> None:
    for resumed in (TI.UP_FOR_RESCHEDULE, TI.DEFERRED):
        t = on_scheduled(Tries(state=resumed, try_number=2, max_tries=3))
        assert (t.state, t.try_number) == (TI.SCHEDULED, 2)
    assert on_scheduled(Tries(state=TI.UP_FOR_RETRY, try_number=2, max_tries=3)).try_number == 3


@pytest.mark.parametrize(("try_number", "max_tries", "retries", "expected"), [
    (1, 1, 1, True), (2, 1, 1, False), (1, 0, 0, False), (3, 5, 2, True), (1, 1, 0, False),
])
def test_can_retry(try_number: int, max_tries: int, retries: int, expected: bool) -> None:
    t = Tries(state=TI.RUNNING, try_number=try_number, max_tries=max_tries)
    assert can_retry(t, retries=retries) is expected


def test_on_scheduled_refuses_a_finished_task() -> None:
    with pytest.raises(IllegalTransition):
        on_scheduled(Tries(state=TI.SUCCESS, try_number=1))
