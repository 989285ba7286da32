"""Setup and teardown tasks: Airflow 3's rules, as pure functions over a DAG's graph.

A DAG marks some tasks ``is_setup`` and some ``is_teardown`` (dag.json); a teardown has the
trigger rule ``all_done_setup_success`` (see ``trigger_rules``). Three more rules follow,
each as Airflow implements it:

* **The setup constraint** (``TriggerRuleDep._evaluate_setup_constraint``): a task that is
  not a teardown also waits for its *relevant* setups that are not its direct upstreams,
  and is ``upstream_failed`` as soon as one of them failed (``skipped`` when one was
  skipped). A setup is relevant to a task when it is upstream of it and either has no
  teardown or has one downstream of the task: the task runs inside that setup's scope.
* **The run's state** (``DagRun._tis_for_dagrun_state``): teardowns do not count, unless they
  say ``on_failure_fail_dagrun``. The run is judged on its *effective leaves*: tasks that are
  not such teardowns and whose downstream tasks all are. A failed work task followed only by
  its teardown therefore still fails the run, and a failed teardown does not.
* **Clearing** (``DAG.partial_subset``): clearing a work task clears its relevant setups and
  their teardowns; clearing a setup clears its teardowns.

A DAG without setup or teardown tasks is unaffected by all three.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leoflow.engine.scheduler.states import TaskInstanceState, TIState
from leoflow.engine.scheduler.trigger_rules import Decision, UpstreamCounts
from leoflow.engine.spec.model import DagSpec

TI = TaskInstanceState


@dataclass(frozen=True)
class SetupTeardownGraph:
    """A DAG's edges with its setup and teardown marks (task ids in declaration order)."""

    order: tuple[str, ...]
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]
    setups: frozenset[str]
    teardowns: frozenset[str]
    fail_dagrun: frozenset[str]  # teardowns whose failure fails the run

    @classmethod
    def of(cls, spec: DagSpec) -> SetupTeardownGraph:
        downstream: dict[str, list[str]] = {t.task_id: [] for t in spec.tasks}
        for t in spec.tasks:
            for up in t.upstream:
                downstream.setdefault(up, []).append(t.task_id)
        return cls(
            order=spec.task_ids,
            upstream={t.task_id: tuple(t.upstream) for t in spec.tasks},
            downstream={k: tuple(v) for k, v in downstream.items()},
            setups=frozenset(t.task_id for t in spec.tasks if t.is_setup),
            teardowns=frozenset(t.task_id for t in spec.tasks if t.is_teardown),
            fail_dagrun=frozenset(t.task_id for t in spec.tasks
                                  if t.is_teardown and t.on_failure_fail_dagrun),
        )

    @property
    def active(self) -> bool:
        """Whether the DAG has any setup or teardown task (else every rule here is moot)."""
        return bool(self.setups or self.teardowns)

    def _walk(self, start: str, edges: Mapping[str, tuple[str, ...]]) -> list[str]:
        seen: dict[str, None] = {}
        queue = deque(edges.get(start, ()))
        while queue:
            tid = queue.popleft()
            if tid not in seen:
                seen[tid] = None
                queue.extend(edges.get(tid, ()))
        return list(seen)

    def ancestors(self, task_id: str) -> list[str]:
        return self._walk(task_id, self.upstream)

    def descendants(self, task_id: str) -> list[str]:
        return self._walk(task_id, self.downstream)

    def teardowns_of(self, setup_id: str) -> tuple[str, ...]:
        """The teardowns directly downstream of a setup (its own teardowns)."""
        return tuple(d for d in self.downstream.get(setup_id, ()) if d in self.teardowns)

    def relevant_setups(self, task_id: str) -> list[str]:
        """Upstream setups whose scope ``task_id`` is in: with no teardown, or with one
        downstream of ``task_id`` (Airflow's ``get_upstreams_only_setups``)."""
        below = {d for d in self.descendants(task_id) if d in self.teardowns}
        out = []
        for up in self.ancestors(task_id):
            if up not in self.setups:
                continue
            own = self.teardowns_of(up)
            if not own or below.intersection(own):
                out.append(up)
        return out

    def indirect_setups(self, task_id: str) -> tuple[str, ...]:
        """The relevant setups the setup constraint checks: not direct upstreams, and none
        for a teardown (its own rule covers its setups)."""
        if task_id in self.teardowns:
            return ()
        direct = set(self.upstream.get(task_id, ()))
        return tuple(s for s in self.relevant_setups(task_id) if s not in direct)

    def setups_and_their_teardowns(self, task_id: str) -> set[str]:
        """Relevant setups of ``task_id`` and their teardowns (what clearing it adds)."""
        out: set[str] = set()
        for setup_id in self.relevant_setups(task_id):
            out.add(setup_id)
            out.update(t for t in self.teardowns_of(setup_id) if t != task_id)
        return out

    def state_leaves(self) -> frozenset[str]:
        """The tasks whose states decide the run's: teardowns left out unless they say
        ``on_failure_fail_dagrun``, and a task counts when all its downstreams are left out.
        A DAG made only of ignorable teardowns falls back to its plain leaves."""
        def ignorable(tid: str) -> bool:
            return tid in self.teardowns and tid not in self.fail_dagrun

        leaves = frozenset(
            tid for tid in self.order
            if not ignorable(tid) and all(ignorable(d) for d in self.downstream.get(tid, ())))
        return leaves or frozenset(tid for tid in self.order if not self.downstream.get(tid))

    def clear_selection(self, chosen: Iterable[str], *, upstream: bool = False,
                        downstream: bool = False) -> set[str]:
        """Every task that clearing ``chosen`` clears (Airflow's ``partial_subset``):
        ``chosen``, its relatives as asked, and the setups and teardowns they need."""
        matched = set(chosen)
        out = set(matched)
        for tid in matched:
            plain = tid not in self.setups and tid not in self.teardowns
            if downstream:
                for rel in self.descendants(tid):
                    out.add(rel)
                    if rel not in matched and rel not in self.setups \
                            and rel not in self.teardowns:
                        out |= self.setups_and_their_teardowns(rel)
            if upstream:
                for rel in self.ancestors(tid):
                    out.add(rel)
                    if rel in self.setups:
                        out.update(t for t in self.teardowns_of(rel) if t != tid)
            elif plain:
                out |= self.setups_and_their_teardowns(tid)
            if tid in self.setups and not downstream:
                out.update(self.teardowns_of(tid))
        return out


def setup_constraint(decision: Decision, setup_states: Iterable[TIState]) -> Decision:
    """Apply the setup constraint to a task's trigger-rule ``decision``, given the states of
    its indirect relevant setups' task instances.

    A failed (or upstream-failed) setup makes the task ``upstream_failed`` and a skipped one
    ``skipped``, without waiting for the others; otherwise the task may run only once every
    one of them succeeded (removed instances do not count).
    """
    c = UpstreamCounts.of(setup_states)
    if c.total == 0:
        return decision
    if c.failed or c.upstream_failed:
        return Decision.UPSTREAM_FAILED
    if c.skipped:
        return Decision.SKIP
    if decision is Decision.RUN and c.success < c.total - c.removed:
        return Decision.WAIT
    return decision


def setup_counts(counts: UpstreamCounts, setup_states: Iterable[TIState]) -> UpstreamCounts:
    """``counts`` with its ``setup_*`` fields filled from the direct upstream setups' task
    instance states (what ``all_done_setup_success`` needs)."""
    total = success = skipped = 0
    for state in setup_states:
        total += 1
        success += state == TI.SUCCESS
        skipped += state == TI.SKIPPED
    if not total:
        return counts
    return UpstreamCounts(total=counts.total, success=counts.success, skipped=counts.skipped,
                          failed=counts.failed, upstream_failed=counts.upstream_failed,
                          removed=counts.removed, setup_total=total, setup_success=success,
                          setup_skipped=skipped)
