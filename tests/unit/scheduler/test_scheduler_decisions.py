"""Run-level decisions: propagation, early firing, mapping, branching, short-circuit, the end."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from leoflow.engine.scheduler.branch_choice import InvalidBranchChoice, normalize_branch_choice
from leoflow.engine.scheduler.dag_graph import DagGraph, InvalidGraph
from leoflow.engine.scheduler.decisions import RunDecision, evaluate_run
from leoflow.engine.scheduler.states import DagRunState, TaskInstanceState
from leoflow.engine.spec.model import DagSpec, Expansion, TaskSpec

TI = TaskInstanceState
S, F, K, UF, RUNNING = TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.RUNNING
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def task(task_id: str, *upstream: str, rule: str = "all_success", operator: str = "python",
         expand: Mapping[str, Any] | None = None, mode: str = "kwargs",
         group: str | None = None) -> TaskSpec:
    return TaskSpec(
        task_id=task_id, operator=operator, upstream=tuple(upstream), trigger_rule=rule,
        group_id=group,
        expand=Expansion(mode=mode, values=MappingProxyType(dict(expand))) if expand else None,  # type: ignore[arg-type]
    )


def dag(*tasks: TaskSpec, raw: Mapping[str, Any] | None = None) -> DagSpec:
    return DagSpec(dag_id="d", content_hash="", tasks=tuple(tasks),
                   raw=MappingProxyType(dict(raw or {})))


def xcom(task_id: str) -> dict[str, Any]:
    return {"xcom": {"task_id": task_id, "key": "return_value"}}


def states(**by_task: TaskInstanceState | None) -> dict[tuple[str, int], TaskInstanceState | None]:
    return {(tid, -1): st for tid, st in by_task.items()}


def keys(*task_ids: str) -> tuple[tuple[str, int], ...]:
    return tuple((tid, -1) for tid in task_ids)


CHAIN = dag(task("a"), task("b", "a"), task("c", "b"))


# --- propagation and the end of a run ---------------------------------------------------


def test_fresh_run_schedules_roots() -> None:
    d = evaluate_run(CHAIN, {})
    assert d.schedule == keys("a")
    assert d.run_state is DagRunState.RUNNING and not d.finished


def test_success_schedules_the_next_task() -> None:
    d = evaluate_run(CHAIN, states(a=S))
    assert d.schedule == keys("b") and not d.skip and not d.upstream_failed


def test_failure_propagates_through_the_whole_chain_in_one_call() -> None:
    d = evaluate_run(CHAIN, states(a=F))
    assert d.upstream_failed == keys("b", "c")
    assert d.run_state is DagRunState.FAILED and not d.deadlocked


def test_skip_propagates_and_the_run_succeeds() -> None:
    d = evaluate_run(CHAIN, states(a=K))
    assert d.skip == keys("b", "c")
    assert d.run_state is DagRunState.SUCCESS
    assert d.changes == {("b", -1): K, ("c", -1): K}


def test_run_is_not_finished_while_a_branch_still_runs() -> None:
    spec = dag(task("a"), task("b"), task("c", "a"))
    d = evaluate_run(spec, states(a=F, b=RUNNING))
    assert d.upstream_failed == keys("c")
    assert d.run_state is DagRunState.RUNNING


def test_leaf_semantics_all_done_cleanup_makes_the_run_succeed() -> None:
    # Observed on Airflow 3.3: failed upstream, the all_done child runs and succeeds; the only
    # leaf succeeded, so the run succeeds.
    spec = dag(task("a"), task("cleanup", "a", rule="all_done"))
    d = evaluate_run(spec, states(a=F))
    assert d.schedule == keys("cleanup")
    assert evaluate_run(spec, states(a=F, cleanup=S)).run_state is DagRunState.SUCCESS


def test_leaf_semantics_a_failed_leaf_fails_the_run() -> None:
    spec = dag(task("a"), task("b", "a"), task("cleanup", "a", rule="all_done"))
    d = evaluate_run(spec, states(a=F, cleanup=S))
    assert d.upstream_failed == keys("b")
    assert d.run_state is DagRunState.FAILED


def test_removed_leaves_do_not_count() -> None:
    spec = dag(task("a"), task("gone", "a"))
    assert evaluate_run(spec, states(a=S, gone=TI.REMOVED)).run_state is DagRunState.SUCCESS


def test_empty_dag_succeeds() -> None:
    assert evaluate_run(dag(), {}).run_state is DagRunState.SUCCESS


def test_in_flight_states_keep_the_run_running() -> None:
    for st in (TI.SCHEDULED, TI.QUEUED, RUNNING, TI.DEFERRED, TI.RESTARTING):
        d = evaluate_run(CHAIN, states(a=st))
        assert d.run_state is DagRunState.RUNNING and d.changes == {}, st


def test_deadlock_fails_the_run() -> None:
    # m maps over a, which was removed: the trigger rule is met (removed does not block) but
    # Airflow's MappedTaskUpstreamDep never lets m run, and nothing else can move.
    spec = dag(task("a"), task("m", "a", expand={"x": xcom("a")}))
    d = evaluate_run(spec, states(a=TI.REMOVED))
    assert d.run_state is DagRunState.FAILED and d.deadlocked
    assert d.changes == {}


def test_entries_for_unknown_tasks_are_ignored_and_strings_accepted() -> None:
    d = evaluate_run(CHAIN, {("a", -1): "success", ("zzz", -1): "failed"})
    assert d.schedule == keys("b")


def test_fixpoint_a_second_call_changes_nothing() -> None:
    spec = dag(task("a"), task("b", "a"), task("c", "a", rule="all_failed"),
               task("d", "b", "c", rule="one_success"))
    first = evaluate_run(spec, states(a=S))
    applied = {**states(a=S), **first.changes}
    assert evaluate_run(spec, applied).changes == {}


# --- early firing ----------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "a", "b", "expected"), [
    ("one_success", S, RUNNING, "schedule"),
    ("one_success", F, RUNNING, "wait"),
    ("one_failed", F, RUNNING, "schedule"),
    ("one_failed", TI.UPSTREAM_FAILED, None, "schedule"),
    ("one_failed", S, RUNNING, "wait"),
    ("one_done", F, RUNNING, "schedule"),
    ("all_success", F, RUNNING, "upstream_failed"),
    ("all_success", K, RUNNING, "skip"),
    ("none_failed", F, RUNNING, "upstream_failed"),
    ("all_failed", S, RUNNING, "skip"),
    ("none_skipped", K, RUNNING, "skip"),
])
def test_early_decisions_do_not_wait_for_the_other_upstream(
        rule: str, a: TaskInstanceState, b: TaskInstanceState | None, expected: str) -> None:
    spec = dag(task("a"), task("b"), task("join", "a", "b", rule=rule))
    d = evaluate_run(spec, {**states(a=a, b=b)})
    got = {("join", -1)} & set(d.schedule), {("join", -1)} & set(d.skip), \
        {("join", -1)} & set(d.upstream_failed)
    outcome = ("schedule" if got[0] else "skip" if got[1] else
               "upstream_failed" if got[2] else "wait")
    assert outcome == expected


def test_always_runs_before_its_upstream_finished() -> None:
    spec = dag(task("a"), task("watch", "a", rule="always"))
    assert set(evaluate_run(spec, {}).schedule) == set(keys("a", "watch"))


# --- retries ---------------------------------------------------------------------------


def test_retry_waits_for_its_time_and_reports_a_wakeup() -> None:
    spec = dag(task("a"))
    st = states(a=TI.UP_FOR_RETRY)
    at = T0 + timedelta(minutes=5)
    d = evaluate_run(spec, st, not_before={("a", -1): at}, now=T0)
    assert d.schedule == () and d.next_wakeup == at and d.run_state is DagRunState.RUNNING
    d = evaluate_run(spec, st, not_before={("a", -1): at}, now=at)
    assert d.schedule == keys("a") and d.next_wakeup is None
    # Without an entry it is due; without ``now`` an entry is never due.
    assert evaluate_run(spec, st).schedule == keys("a")
    assert evaluate_run(spec, st, not_before={("a", -1): at}).schedule == ()


def test_up_for_retry_task_is_resolved_when_its_upstream_fails() -> None:
    spec = dag(task("a"), task("b", "a"))
    d = evaluate_run(spec, states(a=F, b=TI.UP_FOR_RETRY), now=T0)
    assert d.upstream_failed == keys("b")


# --- dynamic task mapping -----------------------------------------------------------------


def test_literal_expansion_happens_at_once() -> None:
    spec = dag(task("m", expand={"x": {"literal": [1, 2, 3]}}))
    d = evaluate_run(spec, {})
    assert d.expand == {"m": 3}
    assert d.schedule == (("m", 0), ("m", 1), ("m", 2))


def test_cross_product_and_expand_kwargs() -> None:
    spec = dag(task("m", expand={"x": {"literal": [1, 2]}, "y": {"literal": ["a", "b", "c"]}}),
               task("k", expand={"kwargs": {"literal": [{"a": 1}, {"a": 2}]}},
                    mode="list_of_kwargs"))
    assert evaluate_run(spec, {}).expand == {"m": 6, "k": 2}


def test_expansion_over_an_upstream_waits_for_its_length() -> None:
    spec = dag(task("a"), task("m", "a", expand={"x": xcom("a")}), task("after", "m"))
    assert evaluate_run(spec, states(a=RUNNING)).changes == {}
    d = evaluate_run(spec, states(a=S), mapped_lengths={"m": 2})
    assert d.expand == {"m": 2} and d.schedule == (("m", 0), ("m", 1))


def test_empty_expansion_skips_the_task_and_its_downstream() -> None:
    spec = dag(task("a"), task("m", "a", expand={"x": xcom("a")}), task("after", "m"))
    d = evaluate_run(spec, states(a=S), mapped_lengths={"m": 0})
    assert d.skip == keys("m", "after") and d.expand == {}
    assert d.run_state is DagRunState.SUCCESS


def test_expansion_whose_values_never_came_is_upstream_failed() -> None:
    spec = dag(task("a"), task("m", "a", rule="all_done", expand={"x": xcom("a")}))
    d = evaluate_run(spec, states(a=S))
    assert d.upstream_failed == keys("m")


def test_failed_mapping_upstream_settles_the_mapped_task() -> None:
    # all_done would run it, but there is nothing to map over: upstream_failed (Airflow's
    # MappedTaskUpstreamDep); a skipped one skips it.
    spec = dag(task("a"), task("m", "a", rule="all_done", expand={"x": xcom("a")}))
    assert evaluate_run(spec, states(a=F)).upstream_failed == keys("m")
    assert evaluate_run(spec, states(a=K)).skip == keys("m")


def test_early_rule_on_a_mapped_task_waits_for_its_mapping_upstream() -> None:
    spec = dag(task("a"), task("b"), task("m", "a", "b", rule="one_success",
                                          expand={"x": xcom("b")}))
    assert evaluate_run(spec, states(a=S, b=RUNNING)).changes == {}


def test_mapped_upstream_counts_each_map_index() -> None:
    spec = dag(task("m", expand={"x": {"literal": [1, 2, 3]}}),
               task("all", "m"), task("one", "m", rule="one_success"))
    partial = {("m", 0): S, ("m", 1): RUNNING, ("m", 2): RUNNING}
    d = evaluate_run(spec, partial)
    assert d.schedule == keys("one")
    failed = {("m", 0): S, ("m", 1): F, ("m", 2): RUNNING}
    assert evaluate_run(spec, failed).upstream_failed == keys("all")
    done = {("m", 0): S, ("m", 1): S, ("m", 2): S}
    assert set(evaluate_run(spec, done).schedule) == set(keys("all", "one"))


def test_cleared_map_index_is_scheduled_again() -> None:
    spec = dag(task("m", expand={"x": {"literal": [1, 2, 3]}}))
    d = evaluate_run(spec, {("m", 0): S, ("m", 1): None, ("m", 2): S})
    assert d.schedule == (("m", 1),) and d.expand == {}


def test_placeholder_beside_expanded_instances_is_ignored() -> None:
    spec = dag(task("m", expand={"x": {"literal": [1, 2]}}))
    d = evaluate_run(spec, {("m", -1): None, ("m", 0): S, ("m", 1): S})
    assert d.run_state is DagRunState.SUCCESS


def test_mapped_task_downstream_of_a_mapped_task() -> None:
    spec = dag(task("m", expand={"x": {"literal": [1, 2]}}),
               task("n", "m", expand={"y": xcom("m")}))
    d = evaluate_run(spec, {("m", 0): S, ("m", 1): S}, mapped_lengths={"n": 2})
    assert d.expand == {"n": 2}


# --- branching ---------------------------------------------------------------------------

BRANCH = dag(
    task("pick", operator="branch"),
    task("x", "pick"), task("y", "pick"),
    task("join", "x", "y", rule="none_failed_min_one_success"),
    task("strict", "x", "y"),
)


def test_branch_skips_the_other_direct_downstream_and_the_skip_propagates() -> None:
    d = evaluate_run(BRANCH, states(pick=S), branch_choices={"pick": ("x",)})
    assert d.schedule == keys("x")
    assert d.skip == keys("y", "strict")  # all_success join skips by trigger rule
    d = evaluate_run(BRANCH, {**states(pick=S, x=S, y=K, strict=K)},
                     branch_choices={"pick": ("x",)})
    assert d.schedule == keys("join")


def test_branch_choosing_nothing_skips_everything_downstream() -> None:
    d = evaluate_run(BRANCH, states(pick=S), branch_choices={"pick": ()})
    assert d.skip == keys("x", "y", "join", "strict")
    assert d.run_state is DagRunState.SUCCESS


def test_branch_choice_is_ignored_until_the_branch_succeeded() -> None:
    assert evaluate_run(BRANCH, states(pick=RUNNING), branch_choices={"pick": ("x",)}).changes \
        == {}


def test_empty_branch_join_is_followed() -> None:
    # pick >> join and pick >> work >> join: following "work" keeps "join" (Airflow's special
    # case for empty branches).
    spec = dag(task("pick", operator="branch"), task("work", "pick"),
               task("other", "pick"),
               task("join", "pick", "work", rule="none_failed_min_one_success"))
    d = evaluate_run(spec, states(pick=S), branch_choices={"pick": ("work",)})
    assert d.schedule == keys("work") and d.skip == keys("other")
    # Following "other" skips both "work" and the direct downstream "join".
    d = evaluate_run(spec, states(pick=S), branch_choices={"pick": ("other",)})
    assert d.schedule == keys("other") and d.skip == keys("work", "join")


def test_cleared_unfollowed_task_is_skipped_again() -> None:
    d = evaluate_run(BRANCH, states(pick=S, x=S, y=None, join=S, strict=K),
                     branch_choices={"pick": ("x",)})
    assert d.skip == keys("y")


def test_normalize_branch_choice() -> None:
    spec = dag(task("pick", operator="branch"), task("a", "pick", group="g"),
               task("b", "a", group="g"), task("c", "pick", group="g.inner"),
               task("z", "pick"))
    assert normalize_branch_choice(spec, "pick", None) == ()
    assert normalize_branch_choice(spec, "pick", "z") == ("z",)
    assert normalize_branch_choice(spec, "pick", ["z", "a", "z"]) == ("z", "a")
    assert normalize_branch_choice(spec, "pick", ("g",)) == ("a", "c")
    with pytest.raises(InvalidBranchChoice, match="unknown: nope") as info:
        normalize_branch_choice(spec, "pick", ["z", "nope"])
    assert info.value.invalid == ("nope",)
    with pytest.raises(InvalidBranchChoice, match="strings"):
        normalize_branch_choice(spec, "pick", ["z", 3])
    with pytest.raises(InvalidBranchChoice, match="not int"):
        normalize_branch_choice(spec, "pick", 3)


# --- short-circuit ---------------------------------------------------------------------------

SC = dag(task("check", operator="short_circuit"), task("c"),
         task("a", "check"), task("b", "a", "c", rule="all_done"))


def test_falsy_short_circuit_skips_all_downstream_ignoring_trigger_rules() -> None:
    d = evaluate_run(SC, states(check=S, c=S), short_circuits={"check": False})
    assert d.skip == keys("a", "b")
    assert d.run_state is DagRunState.SUCCESS


def test_truthy_short_circuit_continues() -> None:
    d = evaluate_run(SC, states(check=S, c=S), short_circuits={"check": True})
    assert d.schedule == keys("a")


def test_short_circuit_respecting_trigger_rules_skips_only_direct_downstream() -> None:
    raw = {"tasks": [{"task_id": "check",
                      "options": {"ignore_downstream_trigger_rules": False}}]}
    spec = dag(*SC.tasks, raw=raw)
    d = evaluate_run(spec, states(check=S, c=S), short_circuits={"check": False})
    assert d.skip == keys("a")
    assert d.schedule == keys("b")  # all_done runs after the skip


# --- graph ---------------------------------------------------------------------------


def test_invalid_graphs() -> None:
    with pytest.raises(InvalidGraph, match="unknown task 'nope'"):
        DagGraph.of(dag(task("a", "nope")))
    with pytest.raises(InvalidGraph, match="cycle") as info:
        DagGraph.of(dag(task("a", "b"), task("b", "a"), task("c")))
    assert set(info.value.tasks) == {"a", "b"}


def test_topological_order_does_not_depend_on_declaration_order() -> None:
    spec = dag(task("c", "b"), task("b", "a"), task("a"))
    assert DagGraph.of(spec).order == ("a", "b", "c")
    assert evaluate_run(spec, states(a=F)).upstream_failed == keys("b", "c")


def test_large_dag_evaluates_in_one_linear_pass() -> None:
    # 1,000 tasks in 100 layers of 10, each task depending on the whole previous layer.
    tasks = []
    for layer in range(100):
        for i in range(10):
            ups = [f"t{layer - 1}_{j}" for j in range(10)] if layer else []
            tasks.append(task(f"t{layer}_{i}", *ups))
    spec = dag(*tasks)
    graph = DagGraph.of(spec)
    st = {(t.task_id, -1): S for t in tasks[:500]}
    start = time.perf_counter()
    d: RunDecision = evaluate_run(graph, st)
    elapsed = time.perf_counter() - start
    assert len(d.schedule) == 10
    assert elapsed < 1.0  # generous: it takes a few milliseconds; this only catches O(n^2)
