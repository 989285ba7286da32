"""Setup and teardown tasks in the scheduler: the teardown's trigger rule, the setup
constraint, the run's state without teardowns, and what clearing a task brings along."""

from __future__ import annotations

import itertools
from types import MappingProxyType

import pytest

from leoflow.engine.scheduler.decisions import evaluate_run
from leoflow.engine.scheduler.setup_teardown import (
    SetupTeardownGraph,
    setup_constraint,
    setup_counts,
)
from leoflow.engine.scheduler.states import FAILED_STATES, DagRunState, TaskInstanceState
from leoflow.engine.scheduler.trigger_rules import Decision, UpstreamCounts, decide
from leoflow.engine.spec.model import DagSpec, TaskSpec

TI = TaskInstanceState
S, F, K, UF, RUNNING = TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.RUNNING
FINAL = (S, F, K, UF)
TEARDOWN = "all_done_setup_success"


def task(task_id: str, *upstream: str, rule: str = "all_success", setup: bool = False,
         teardown: bool = False, fail_dagrun: bool = False) -> TaskSpec:
    return TaskSpec(task_id=task_id, operator="python", upstream=tuple(upstream),
                    trigger_rule=TEARDOWN if teardown else rule, is_setup=setup,
                    is_teardown=teardown, on_failure_fail_dagrun=fail_dagrun)


def dag(*tasks: TaskSpec) -> DagSpec:
    return DagSpec(dag_id="d", content_hash="", tasks=tuple(tasks), raw=MappingProxyType({}))


def states(**by_task: TaskInstanceState | None) -> dict[tuple[str, int], TaskInstanceState | None]:
    return {(tid, -1): st for tid, st in by_task.items()}


def scope(*, fail_dagrun: bool = False) -> DagSpec:
    """``s >> w >> t`` with ``t`` the teardown of ``s``."""
    return dag(task("s", setup=True), task("w", "s"),
               task("t", "s", "w", teardown=True, fail_dagrun=fail_dagrun))


# --- the teardown's rule ----------------------------------------------------------------------

def test_teardown_runs_after_its_work_failed():
    d = evaluate_run(scope(), states(s=S, w=F))
    assert d.schedule == (("t", -1),)
    assert d.run_state is DagRunState.RUNNING  # the teardown is still to run


def test_teardown_waits_for_the_work_and_for_its_setups():
    assert evaluate_run(scope(), states(s=S, w=RUNNING)).schedule == ()
    assert evaluate_run(scope(), states(s=RUNNING)).schedule == ()


def test_failed_setup_fails_work_and_teardown_and_the_run():
    d = evaluate_run(scope(), states(s=F))
    assert d.upstream_failed == (("w", -1), ("t", -1))
    assert d.run_state is DagRunState.FAILED


def test_skipped_setup_skips_work_and_teardown_and_the_run_succeeds():
    d = evaluate_run(scope(), states(s=K))
    assert d.skip == (("w", -1), ("t", -1))
    assert d.run_state is DagRunState.SUCCESS


def test_one_of_two_setups_succeeding_is_enough_for_the_teardown():
    spec = dag(task("a", setup=True), task("b", setup=True),
               task("t", "a", "b", teardown=True))
    assert evaluate_run(spec, states(a=S, b=F)).schedule == (("t", -1),)
    assert evaluate_run(spec, states(a=K, b=F)).upstream_failed == (("t", -1),)
    assert evaluate_run(spec, states(a=K, b=K)).skip == (("t", -1),)


def test_setup_counts_count_only_direct_setups():
    base = UpstreamCounts.of([S, F, K])
    assert setup_counts(base, []) is base
    c = setup_counts(base, [S, K])
    assert (c.setup_total, c.setup_success, c.setup_skipped) == (2, 1, 1)
    assert (c.total, c.success, c.failed, c.skipped) == (3, 1, 1, 1)


@pytest.mark.parametrize("ups", list(itertools.product((None, RUNNING, *FINAL), repeat=2)))
@pytest.mark.parametrize("setups", list(itertools.product((None, RUNNING, *FINAL), repeat=1)))
def test_teardown_rule_over_every_state(ups, setups):
    """``all_done_setup_success`` on (one setup + two work tasks), every combination."""
    counts = setup_counts(UpstreamCounts.of([*setups, *ups]), setups)
    got = decide(TEARDOWN, counts)
    done = all(st in FINAL for st in (*setups, *ups))
    if not done:
        assert got is Decision.WAIT
    elif setups[0] == K:
        assert got is Decision.SKIP
    elif setups[0] != S:
        assert got is Decision.UPSTREAM_FAILED
    else:
        assert got is Decision.RUN


# --- the setup constraint ---------------------------------------------------------------------

@pytest.mark.parametrize("decision", list(Decision))
@pytest.mark.parametrize("setups", list(itertools.product(
    (None, RUNNING, TI.UP_FOR_RETRY, TI.REMOVED, *FINAL), repeat=2)))
def test_setup_constraint_over_every_state(decision, setups):
    got = setup_constraint(decision, setups)
    if F in setups or UF in setups:
        assert got is Decision.UPSTREAM_FAILED
    elif K in setups:
        assert got is Decision.SKIP
    elif decision is Decision.RUN and any(st not in (S, TI.REMOVED) for st in setups):
        assert got is Decision.WAIT
    else:
        assert got is decision


def test_no_indirect_setups_changes_nothing():
    for decision in Decision:
        assert setup_constraint(decision, []) is decision


def deep() -> DagSpec:
    """``s >> a >> b >> t``: ``b`` is in ``s``'s scope without being its direct downstream."""
    return dag(task("s", setup=True), task("a", "s"), task("b", "a", rule="always"),
               task("t", "s", "b", teardown=True))


def test_indirect_setup_holds_back_an_always_task():
    assert ("b", -1) not in evaluate_run(deep(), states(s=RUNNING)).schedule
    assert evaluate_run(deep(), states(s=S, a=S)).schedule == (("b", -1),)
    # 'always' runs even when its direct upstream failed, as long as the setup succeeded
    assert evaluate_run(deep(), states(s=S, a=F)).schedule == (("b", -1),)


def test_indirect_setup_failure_or_skip_settles_the_task():
    d = evaluate_run(deep(), states(s=F))
    assert d.upstream_failed == (("a", -1), ("b", -1), ("t", -1))
    d = evaluate_run(deep(), states(s=K))
    assert d.skip == (("a", -1), ("b", -1), ("t", -1))


def test_setup_whose_teardown_is_not_below_is_not_relevant():
    """Airflow's example_setup_teardown: the group's tasks are after the root scope's work,
    not inside it, so the root setup does not hold them."""
    spec = dag(task("root_setup", setup=True), task("normal", "root_setup"),
               task("root_teardown", "root_setup", "normal", teardown=True),
               task("g.setup", "normal", setup=True), task("g.normal", "g.setup"),
               task("g.teardown", "g.setup", "g.normal", teardown=True))
    g = SetupTeardownGraph.of(spec)
    assert g.relevant_setups("g.normal") == ["g.setup"]
    assert g.indirect_setups("g.normal") == ()
    assert g.indirect_setups("root_teardown") == ()
    # a setup with no teardown at all is relevant to everything below it
    bare = SetupTeardownGraph.of(dag(task("s", setup=True), task("a", "s"), task("b", "a")))
    assert bare.indirect_setups("b") == ("s",)


def test_a_dag_without_setups_is_unaffected():
    plain = dag(task("a"), task("b", "a"), task("c", "b", rule="always"))
    g = SetupTeardownGraph.of(plain)
    assert not g.active and g.state_leaves() == frozenset({"c"})
    assert evaluate_run(plain, states(a=F)).upstream_failed == (("b", -1),)


# --- the run's state --------------------------------------------------------------------------

@pytest.mark.parametrize("fail_dagrun", [False, True])
@pytest.mark.parametrize("s,w,t", list(itertools.product(FINAL, repeat=3)))
def test_run_state_over_every_final_state(s, w, t, fail_dagrun):
    """The run is judged on the work, not on the teardown; with ``on_failure_fail_dagrun``
    the teardown becomes the only leaf (as in Airflow, the work then no longer counts)."""
    d = evaluate_run(scope(fail_dagrun=fail_dagrun), states(s=s, w=w, t=t))
    judged = t if fail_dagrun else w
    want = DagRunState.FAILED if judged in FAILED_STATES else DagRunState.SUCCESS
    assert d.run_state is want


def test_teardown_failure_does_not_fail_the_run_but_work_failure_does():
    assert evaluate_run(scope(), states(s=S, w=S, t=F)).run_state is DagRunState.SUCCESS
    assert evaluate_run(scope(), states(s=S, w=F, t=S)).run_state is DagRunState.FAILED
    assert evaluate_run(scope(fail_dagrun=True),
                        states(s=S, w=S, t=F)).run_state is DagRunState.FAILED


def test_state_leaves():
    g = SetupTeardownGraph.of(scope())
    assert g.state_leaves() == frozenset({"w"})
    assert SetupTeardownGraph.of(scope(fail_dagrun=True)).state_leaves() == frozenset({"t"})
    # a task after a teardown is a leaf, and so is the work whose downstreams are all
    # ignorable teardowns
    after = dag(task("s", setup=True), task("w", "s"), task("t", "s", "w", teardown=True),
                task("x", "t"))
    assert SetupTeardownGraph.of(after).state_leaves() == frozenset({"w", "x"})
    assert evaluate_run(after, states(s=S, w=F, t=S, x=S)).run_state is DagRunState.FAILED
    # only teardowns: fall back to the plain leaves
    only = dag(task("t1", teardown=True), task("t2", "t1", teardown=True))
    assert SetupTeardownGraph.of(only).state_leaves() == frozenset({"t2"})
    assert evaluate_run(only, states(t1=S, t2=F)).run_state is DagRunState.FAILED


# --- clearing -------------------------------------------------------------------------------

def nested() -> SetupTeardownGraph:
    """``s1 >> s2 >> w >> t2 >> t1`` (``t1`` tears down ``s1``, ``t2`` tears down ``s2``), and
    ``other`` after ``t1``, and ``s3`` whose teardown ``t3`` is not below ``w``."""
    return SetupTeardownGraph.of(dag(
        task("s1", setup=True), task("s2", "s1", setup=True), task("w", "s2"),
        task("t2", "s2", "w", teardown=True), task("t1", "s1", "t2", teardown=True),
        task("other", "t1"), task("s3", setup=True), task("x", "s3"),
        task("t3", "s3", teardown=True), task("w2", "s3", "s2"),
    ))


def test_clearing_work_clears_its_setups_and_their_teardowns():
    g = SetupTeardownGraph.of(scope())
    assert g.clear_selection(["w"]) == {"s", "w", "t"}
    assert nested().clear_selection(["w"]) == {"s1", "s2", "w", "t1", "t2"}


def test_clearing_a_setup_clears_its_teardowns_and_a_teardown_only_itself():
    assert nested().clear_selection(["s2"]) == {"s2", "t2"}
    assert nested().clear_selection(["t2"]) == {"t2"}


def test_a_setup_whose_teardown_is_elsewhere_is_not_cleared():
    # w2 is below s3 and s2, but neither's teardown is below w2: it is in no scope
    assert nested().clear_selection(["w2"]) == {"w2"}
    # x is below s3 only, and s3 has a teardown not below x either
    assert nested().clear_selection(["x"]) == {"x"}
    # a setup with no teardown at all is every descendant's scope
    bare = SetupTeardownGraph.of(dag(task("s", setup=True), task("a", "s"), task("b", "a")))
    assert bare.clear_selection(["b"]) == {"s", "b"}


def test_clearing_with_downstream_brings_the_setups_of_what_it_reaches():
    got = nested().clear_selection(["s2"], downstream=True)
    assert got == {"s2", "w", "t2", "t1", "other", "w2", "s1"}


def test_clearing_with_upstream_brings_the_upstream_setups_teardowns():
    got = nested().clear_selection(["w"], upstream=True)
    assert got == {"w", "s2", "s1", "t2", "t1"}


def test_clearing_without_setups_is_the_plain_closure():
    g = SetupTeardownGraph.of(dag(task("a"), task("b", "a"), task("c", "b")))
    assert g.clear_selection(["b"]) == {"b"}
    assert g.clear_selection(["b"], downstream=True) == {"b", "c"}
    assert g.clear_selection(["b"], upstream=True) == {"a", "b"}
