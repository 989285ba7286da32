"""Every trigger rule once through the loop (the unit tests cover the rule table itself).

The DAG is two upstreams ``u1``, ``u2`` and a child ``c`` with the rule under test. Each case
ends some upstreams and says what ``c`` must be after each step; ``"queued"`` means the loop
handed it to the executor. A case whose steps leave ``u2`` running checks the early decisions
(one_success / one_failed firing, all_success skipping, ...) that need no other upstream.
"""

from __future__ import annotations

import pytest

from tests.integration.scheduler.conftest import spec, task

# (rule, [(upstream, how it ends, c's state afterwards), ...])
CASES = [
    ("all_success", [("u1", "success", None), ("u2", "success", "queued")]),
    ("all_success", [("u1", "skipped", "skipped")]),
    ("all_failed", [("u1", "failed", None), ("u2", "failed", "queued")]),
    ("all_failed", [("u1", "success", "skipped")]),
    ("all_done", [("u1", "failed", None), ("u2", "success", "queued")]),
    ("all_done_min_one_success", [("u1", "failed", None), ("u2", "success", "queued")]),
    ("all_done_min_one_success", [("u1", "failed", None), ("u2", "failed", "upstream_failed")]),
    ("all_done_setup_success", [("u1", "failed", None), ("u2", "failed", "queued")]),
    ("one_success", [("u1", "success", "queued")]),
    ("one_success", [("u1", "failed", None), ("u2", "failed", "upstream_failed")]),
    ("one_failed", [("u1", "failed", "queued")]),
    ("one_failed", [("u1", "success", None), ("u2", "success", "skipped")]),
    ("one_done", [("u1", "failed", "queued")]),
    ("one_done", [("u1", "skipped", None), ("u2", "skipped", "skipped")]),
    ("none_failed", [("u1", "success", None), ("u2", "skipped", "queued")]),
    ("none_failed", [("u1", "failed", "upstream_failed")]),
    ("none_skipped", [("u1", "failed", None), ("u2", "success", "queued")]),
    ("none_skipped", [("u1", "skipped", "skipped")]),
    ("none_failed_min_one_success", [("u1", "skipped", None), ("u2", "success", "queued")]),
    ("none_failed_min_one_success", [("u1", "skipped", None), ("u2", "skipped", "skipped")]),
    ("always", []),
    ("all_skipped", [("u1", "skipped", None), ("u2", "skipped", "queued")]),
    ("all_skipped", [("u1", "success", "skipped")]),
]


def _id(case: tuple[str, list[tuple[str, str, str | None]]]) -> str:
    rule, steps = case
    return rule + "".join(f"-{u}:{how}" for u, how, _ in steps)


async def _check(h, rule: str, steps: list[tuple[str, str, str | None]]) -> None:
    dag_id = "tr_" + rule
    await h.register(spec(dag_id, task("u1"), task("u2"),
                          task("c", "u1", "u2", trigger_rule=rule)))
    run_id = await h.trigger(dag_id)
    if rule == "always":
        # Runs at once, whatever its upstreams are doing.
        assert (await h.states(dag_id, run_id))["c"] == "queued"
    for upstream, how, expected in steps:
        await h.finish(upstream, how)
        states = await h.states(dag_id, run_id)
        assert states["c"] == expected, f"after {upstream} {how}: {states}"
    # Whatever happened so far, the run must come to an end.
    for name in ("u1", "u2", "c"):
        if (await h.states(dag_id, run_id))[name] in ("queued", "running"):
            await h.finish(name)
    assert await h.run_state(dag_id, run_id) in ("success", "failed")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
async def test_trigger_rule_through_the_loop(harness, case):
    await _check(harness, *case)


async def test_one_success_and_one_failed_fire_early_on_both_backends(any_harness):
    h = any_harness
    await h.register(spec("early", task("u1"), task("u2"), task("u3"),
                          task("win", "u1", "u2", "u3", trigger_rule="one_success"),
                          task("alarm", "u1", "u2", "u3", trigger_rule="one_failed")))
    run_id = await h.trigger("early")
    await h.finish("u1", "failed")
    # u2 and u3 are still running: one_failed has what it needs, one_success not yet.
    assert (await h.states("early", run_id)) == {
        "u1": "failed", "u2": "queued", "u3": "queued", "win": None, "alarm": "queued"}
    await h.finish("u2")
    assert (await h.states("early", run_id))["win"] == "queued"
    assert (await h.states("early", run_id))["u3"] == "queued"
    for name in ("u3", "win", "alarm"):
        await h.finish(name)
    assert await h.run_state("early", run_id) == "success"
