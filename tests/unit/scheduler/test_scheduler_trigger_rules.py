"""Every trigger rule, every outcome, as Airflow 3's TriggerRuleDep decides it."""

from __future__ import annotations

import pytest

from leoflow.engine.scheduler.states import TaskInstanceState
from leoflow.engine.scheduler.trigger_rules import (
    Decision,
    TriggerRule,
    UnknownTriggerRule,
    UpstreamCounts,
    decide,
)
from leoflow.engine.spec.model import TRIGGER_RULES
from leoflow.errors import LeoflowError

RUN, WAIT, SKIP, UF = Decision.RUN, Decision.WAIT, Decision.SKIP, Decision.UPSTREAM_FAILED


def C(n: int, s: int = 0, k: int = 0, f: int = 0, u: int = 0, r: int = 0) -> UpstreamCounts:
    """``n`` upstream task instances: s success, k skipped, f failed, u upstream_failed,
    r removed, the rest unfinished."""
    return UpstreamCounts(total=n, success=s, skipped=k, failed=f, upstream_failed=u, removed=r)


TABLE: list[tuple[str, UpstreamCounts, Decision, str]] = [
    # all_success
    ("all_success", C(2, s=2), RUN, "all succeeded"),
    ("all_success", C(2, s=1), WAIT, "one still running"),
    ("all_success", C(3, f=1), UF, "early: one failed, others unfinished"),
    ("all_success", C(3, u=1), UF, "early: one upstream_failed"),
    ("all_success", C(3, k=1), SKIP, "early: one skipped"),
    ("all_success", C(2, f=1, k=1), UF, "failure wins over skip"),
    ("all_success", C(2, s=1, r=1), RUN, "removed does not block"),
    # all_failed
    ("all_failed", C(2, f=1, u=1), RUN, "all failed or upstream_failed"),
    ("all_failed", C(2, f=1), WAIT, "one still running"),
    ("all_failed", C(3, s=1), SKIP, "early: one succeeded"),
    ("all_failed", C(3, k=1), SKIP, "early: one skipped"),
    # all_done
    ("all_done", C(4, s=1, k=1, f=1, u=1), RUN, "everything finished"),
    ("all_done", C(2, k=2), RUN, "skips are done"),
    ("all_done", C(2, f=1), WAIT, "one still running"),
    # all_done_min_one_success
    ("all_done_min_one_success", C(3, s=1, f=1, u=1), RUN, "done with a success"),
    ("all_done_min_one_success", C(2, s=1, r=1), RUN, "removed does not block"),
    ("all_done_min_one_success", C(2, s=1), WAIT, "one still running"),
    ("all_done_min_one_success", C(2, f=1), WAIT, "no success yet, one running"),
    ("all_done_min_one_success", C(3, s=1, k=1), SKIP, "early: a skip settles it"),
    ("all_done_min_one_success", C(2, f=1, u=1), UF, "done without any success"),
    # all_done_setup_success (no setup tasks: all_done)
    ("all_done_setup_success", C(2, s=1, f=1), RUN, "no setups: like all_done"),
    ("all_done_setup_success", C(2, k=2), RUN, "no setups: skips are done"),
    ("all_done_setup_success", C(2, f=1), WAIT, "one still running"),
    # one_success
    ("one_success", C(3, s=1), RUN, "early: one succeeded, others unfinished"),
    ("one_success", C(3, f=2), WAIT, "a success may still come"),
    ("one_success", C(2, k=2), SKIP, "all skipped"),
    ("one_success", C(2, f=1, k=1), UF, "done without any success"),
    ("one_success", C(2, u=2), UF, "all upstream_failed"),
    # one_failed
    ("one_failed", C(3, f=1), RUN, "early: one failed, others unfinished"),
    ("one_failed", C(3, u=1), RUN, "early: upstream_failed counts as failed"),
    ("one_failed", C(3, s=2), WAIT, "a failure may still come"),
    ("one_failed", C(2, s=1, k=1), SKIP, "done without any failure"),
    # one_done
    ("one_done", C(3, s=1), RUN, "early: one succeeded"),
    ("one_done", C(3, f=1), RUN, "early: one failed"),
    ("one_done", C(3, u=1), WAIT, "upstream_failed is not success or failure"),
    ("one_done", C(2, k=1, u=1), SKIP, "done without success or failure"),
    # none_failed
    ("none_failed", C(2, s=1, k=1), RUN, "successes and skips"),
    ("none_failed", C(2, k=2), RUN, "all skipped still runs (no skip propagation)"),
    ("none_failed", C(2, s=1), WAIT, "one still running"),
    ("none_failed", C(3, f=1), UF, "early: one failed"),
    ("none_failed", C(3, u=1), UF, "early: one upstream_failed"),
    # none_failed_min_one_success
    ("none_failed_min_one_success", C(2, s=1, k=1), RUN, "a success among skips"),
    ("none_failed_min_one_success", C(2, k=1), WAIT, "one still running"),
    ("none_failed_min_one_success", C(2, k=2), SKIP, "all skipped: skip propagates"),
    ("none_failed_min_one_success", C(3, f=1), UF, "early: one failed"),
    ("none_failed_min_one_success", C(2, k=1, r=1), UF, "done without success"),
    # none_skipped
    ("none_skipped", C(3, s=1, f=1, u=1), RUN, "done, nothing skipped"),
    ("none_skipped", C(2, s=1), WAIT, "one still running"),
    ("none_skipped", C(3, k=1), SKIP, "early: one skipped"),
    # always
    ("always", C(2), RUN, "runs at once"),
    ("always", C(2, f=2), RUN, "whatever happened upstream"),
    # all_skipped
    ("all_skipped", C(2, k=2), RUN, "all skipped"),
    ("all_skipped", C(2, k=1), WAIT, "one still running"),
    ("all_skipped", C(3, s=1), SKIP, "early: one succeeded"),
    ("all_skipped", C(3, f=1), SKIP, "early: one failed"),
    ("all_skipped", C(3, u=1), SKIP, "early: one upstream_failed"),
]


@pytest.mark.parametrize(("rule", "counts", "expected", "why"), TABLE,
                         ids=[f"{r}-{w}" for r, _, _, w in TABLE])
def test_rule(rule: str, counts: UpstreamCounts, expected: Decision, why: str) -> None:
    assert decide(rule, counts) is expected, why


def test_table_covers_every_rule_and_every_outcome_it_can_have() -> None:
    seen: dict[str, set[Decision]] = {}
    for rule, _, expected, _ in TABLE:
        seen.setdefault(rule, set()).add(expected)
    assert set(seen) == set(TRIGGER_RULES) == {r.value for r in TriggerRule}
    # Rules that can never end up upstream_failed (Airflow only skips them) or never wait.
    never_uf = {"all_failed", "all_done", "one_failed", "one_done", "none_skipped", "always",
                "all_skipped", "all_done_setup_success"}
    for rule, outcomes in seen.items():
        expected = {RUN, WAIT, SKIP, UF}
        if rule in never_uf:
            expected.discard(UF)
        if rule in {"all_done", "all_done_setup_success", "none_failed"}:
            expected.discard(SKIP)
        if rule == "always":
            expected = {RUN}
        assert outcomes == expected, rule


@pytest.mark.parametrize("rule", TRIGGER_RULES)
def test_no_upstream_runs(rule: str) -> None:
    assert decide(rule, UpstreamCounts()) is RUN


def test_all_done_setup_success_with_setup_tasks() -> None:
    base = {"total": 2, "success": 1, "failed": 1, "setup_total": 1}
    assert decide("all_done_setup_success", UpstreamCounts(**base, setup_success=1)) is RUN
    assert decide("all_done_setup_success",
                  UpstreamCounts(total=2, success=1, skipped=1, setup_total=1,
                                 setup_skipped=1)) is SKIP
    assert decide("all_done_setup_success", UpstreamCounts(**base)) is UF
    assert decide("all_done_setup_success",
                  UpstreamCounts(total=2, success=1, setup_total=1, setup_success=1)) is WAIT


def test_counts_of_states() -> None:
    T = TaskInstanceState
    c = UpstreamCounts.of([T.SUCCESS, T.SUCCESS, T.SKIPPED, T.FAILED, T.UPSTREAM_FAILED,
                           T.REMOVED, T.RUNNING, None])
    assert (c.total, c.success, c.skipped, c.failed, c.upstream_failed, c.removed, c.done) == (
        8, 2, 1, 1, 1, 1, 6)


@pytest.mark.parametrize("rule", ["dummy", "none_failed_or_skipped", "bogus"])
def test_unknown_rule(rule: str) -> None:
    with pytest.raises(UnknownTriggerRule) as info:
        decide(rule, C(1))
    assert isinstance(info.value, LeoflowError) and rule in str(info.value)
