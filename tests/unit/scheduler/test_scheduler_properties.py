"""Properties of the scheduling rules over random DAGs driven to random outcomes.

A random DAG (random edges, trigger rules, mapped tasks, branches, short-circuits, retries) is
run by a simulated world: every scheduled task instance is queued, started and ended with a
random outcome, and ``evaluate_run`` is applied after each step, with an occasional clear.
Whatever happens:

* the run terminates (success or failed, never deadlocked) within a bounded number of steps;
* every change ``evaluate_run`` asks for is a legal transition, so no task instance ever
  leaves a finished state except through a clear;
* one call reaches a fixpoint: calling it again on its own result changes nothing;
* a finished run has every task instance finished and its state follows from its leaves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leoflow.engine.scheduler.decisions import evaluate_run
from leoflow.engine.scheduler.states import (
    FAILED_STATES,
    FINISHED,
    DagRunState,
    TaskInstanceState,
    Tries,
    check_transition,
    new_tries,
    on_clear,
    on_failure,
    on_scheduled,
)
from leoflow.engine.spec.model import TRIGGER_RULES, DagSpec, Expansion, TaskSpec

TI = TaskInstanceState
Key = tuple[str, int]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = ["python", "python", "python", "branch", "short_circuit", "map_literal", "map_xcom"]


@st.composite
def dags(draw: st.DrawFn) -> DagSpec:
    n = draw(st.integers(1, 9))
    tasks: list[TaskSpec] = []
    for i in range(n):
        ids = [t.task_id for t in tasks]
        ups = draw(st.lists(st.sampled_from(ids), unique=True, max_size=3)) if ids else []
        kind = draw(st.sampled_from(KINDS))
        expand = None
        operator = "python"
        if kind == "map_literal":
            size = draw(st.integers(0, 3))
            expand = Expansion(mode="kwargs",
                               values=MappingProxyType({"x": {"literal": list(range(size))}}))
        elif kind == "map_xcom" and ups:
            expand = Expansion(mode="kwargs", values=MappingProxyType(
                {"x": {"xcom": {"task_id": ups[0], "key": "return_value"}}}))
        elif kind in ("branch", "short_circuit"):
            operator = kind
        tasks.append(TaskSpec(
            task_id=f"t{i}", operator=operator, upstream=tuple(ups),
            trigger_rule=draw(st.sampled_from(TRIGGER_RULES)),
            retries=draw(st.integers(0, 2)), expand=expand))
    return DagSpec(dag_id="prop", content_hash="", tasks=tuple(tasks))


class World:
    """The run's task instances and everything the rules are told about them."""

    def __init__(self, spec: DagSpec) -> None:
        self.spec = spec
        self.state: dict[Key, TaskInstanceState | None] = {}
        self.tries: dict[Key, Tries] = {}
        self.branch_choices: dict[str, tuple[str, ...]] = {}
        self.short_circuits: dict[str, bool] = {}
        self.mapped_lengths: dict[str, int] = {}
        self.not_before: dict[Key, datetime] = {}
        self.now = T0

    def retries(self, key: Key) -> int:
        return self.spec.task(key[0]).retries

    def evaluate(self) -> Any:
        return evaluate_run(self.spec, self.state, mapped_lengths=self.mapped_lengths,
                            branch_choices=self.branch_choices,
                            short_circuits=self.short_circuits, not_before=self.not_before,
                            now=self.now)

    def set(self, key: Key, new: TaskInstanceState | None, **how: bool) -> None:
        old = self.state.get(key)
        check_transition(old, new, **how)
        self.state[key] = new

    def apply(self, d: Any) -> None:
        for tid, length in d.expand.items():
            assert length >= 1
            assert self.state.pop((tid, -1), None) is None
            self.tries.pop((tid, -1), None)
        for key, new in d.changes.items():
            old = self.state.get(key)
            assert old not in FINISHED, f"{key} left finished state {old}"
            self.set(key, new)
            t = self.tries.get(key) or new_tries(self.retries(key))
            t = Tries(state=old, try_number=t.try_number, max_tries=t.max_tries)
            if new == TI.SCHEDULED:
                t = on_scheduled(t)
            self.tries[key] = Tries(state=new, try_number=t.try_number, max_tries=t.max_tries)


def _finished_task(w: World, tid: str) -> bool:
    keys = [k for k in w.state if k[0] == tid]
    return bool(keys) and all(w.state[k] == TI.SUCCESS for k in keys)


def _advance(w: World, data: st.DataObject) -> None:
    """Move every in-flight task instance one step, with random outcomes."""
    for key, state in sorted(w.state.items()):
        if state == TI.SCHEDULED:
            w.set(key, TI.QUEUED)
        elif state == TI.QUEUED:
            w.set(key, TI.RUNNING)
        elif state == TI.RUNNING:
            outcome = data.draw(st.sampled_from(["success", "success", "failed", "skipped"]))
            t = Tries(state=TI.RUNNING, try_number=w.tries[key].try_number,
                      max_tries=w.tries[key].max_tries)
            if outcome == "failed":
                t = on_failure(t, retries=w.retries(key))
                if t.state == TI.UP_FOR_RETRY:
                    w.not_before[key] = w.now + timedelta(minutes=data.draw(st.integers(0, 3)))
            else:
                t = Tries(state=TI(outcome), try_number=t.try_number, max_tries=t.max_tries)
            w.set(key, t.state)
            w.tries[key] = t
            if t.state == TI.SUCCESS:
                _on_success(w, key[0], data)
    w.now += timedelta(minutes=1)


def _on_success(w: World, tid: str, data: st.DataObject) -> None:
    task = w.spec.task(tid)
    if task.operator == "branch":
        downs = list(w.spec.downstream(tid))
        w.branch_choices[tid] = tuple(data.draw(st.lists(st.sampled_from(downs), unique=True))
                                      if downs else [])
    elif task.operator == "short_circuit":
        w.short_circuits[tid] = data.draw(st.booleans())
    if _finished_task(w, tid):
        for other in w.spec.tasks:
            refs = other.expand.values.get("x") if other.expand else None
            if isinstance(refs, dict) and refs.get("xcom", {}).get("task_id") == tid:
                w.mapped_lengths[other.task_id] = data.draw(st.integers(0, 3))


def _clear(w: World, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(w.state)))
    old = w.state[key]
    t = on_clear(w.tries.get(key) or Tries(state=old), w.retries(key))
    w.set(key, t.state, via_clear=True)
    w.tries[key] = t
    w.not_before.pop(key, None)
    w.branch_choices.pop(key[0], None)
    w.short_circuits.pop(key[0], None)


def _check_finished(w: World, d: Any) -> None:
    assert not d.deadlocked
    for task in w.spec.tasks:
        keys = [k for k in w.state if k[0] == task.task_id]
        assert keys, f"{task.task_id} never got a task instance"
        assert all(w.state[k] in FINISHED for k in keys)
    leaves = [t.task_id for t in w.spec.tasks if not w.spec.downstream(t.task_id)]
    failed = any(w.state[k] in FAILED_STATES for k in w.state if k[0] in leaves)
    assert d.run_state == (DagRunState.FAILED if failed else DagRunState.SUCCESS)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=dags(), data=st.data())
def test_runs_terminate_legally_and_reach_a_fixpoint(spec: DagSpec, data: st.DataObject) -> None:
    w = World(spec)
    clears = data.draw(st.integers(0, 2))
    for _ in range(400):
        d = w.evaluate()
        w.apply(d)
        again = w.evaluate()
        assert again.changes == {} and dict(again.expand) == {}, "not a fixpoint"
        assert again.run_state == d.run_state
        if d.finished:
            _check_finished(w, d)
            if clears == 0:
                return
            clears -= 1
            _clear(w, data)
            continue
        assert d.run_state == DagRunState.RUNNING
        _advance(w, data)
    raise AssertionError("the run did not terminate")
