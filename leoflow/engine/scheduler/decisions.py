"""Run-level scheduling decisions: given a run's task-instance states, what happens next.

``evaluate_run`` is the whole of "the scheduler thinks" as one pure function. The loop calls
it whenever something about a run changed (a task finished, a retry timer fired, a user
cleared something), writes the decision, and hands the scheduled task instances to an
executor. There is no polling interval in it: one call settles everything that can be settled
now, because it walks the tasks in topological order and applies each decision before looking
at the next task. A failure or a skip therefore propagates through the whole downstream graph
in one call, where Airflow needs one scheduler loop per level.

What it covers, each as Airflow 3 does it:

* trigger rules (``trigger_rules.decide``), counted per task instance;
* dynamic task mapping: a mapped task expands when its trigger rule lets it run and the
  length of what it maps over is known; a length of 0 skips it; a length that can no longer
  become known (its upstreams finished without providing it) makes it ``upstream_failed``;
  a failed or skipped mapping upstream resolves it early (``MappedTaskUpstreamDep``);
* branching: a successful branch task's other direct downstreams are skipped, except those
  that are also downstream of a followed task (``SkipMixin.skip_all_except``);
* short-circuit: a falsy result skips every downstream task (``ignore_downstream_trigger_rules``
  defaults to True), or only the direct ones when the task says otherwise;
* retries and reschedules wait for their time (``not_before``) before being scheduled again;
* setup and teardown tasks: a teardown's ``all_done_setup_success`` counts its setups, a task
  waits for the setups whose scope it is in (``setup_teardown``);
* the run's end: success or failed from its leaf tasks once every task instance finished
  (teardowns aside, unless ``on_failure_fail_dagrun``), and failed when nothing can move any
  more (Airflow's "deadlock").

Next to it: ``dag_graph`` (the graph of a spec, built once per version) and
``branch_choice`` (a branch task's result turned into the task ids to follow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from leoflow.engine.scheduler.dag_graph import DagGraph, graph_of
from leoflow.engine.scheduler.group_mapping import instance_decisions
from leoflow.engine.scheduler.setup_teardown import setup_constraint, setup_counts
from leoflow.engine.scheduler.states import (
    FAILED_STATES,
    FINISHED,
    IN_FLIGHT,
    SCHEDULABLE,
    UNFINISHED,
    DagRunState,
    TaskInstanceState,
    TIState,
)
from leoflow.engine.scheduler.trigger_rules import Decision, UpstreamCounts, decide
from leoflow.engine.spec.model import DagSpec

TI = TaskInstanceState

TIKey = tuple[str, int]
"""A task instance within a run: ``(task_id, map_index)``; ``map_index`` is -1 unless expanded."""

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


@dataclass(frozen=True)
class RunDecision:
    """What ``evaluate_run`` decided; the caller writes it in one transaction.

    * ``schedule``: task instances to set ``scheduled`` and hand to an executor. For a task in
      ``expand`` they are new: create ``(task_id, 0 … n-1)`` (Airflow turns the placeholder
      ``-1`` into index 0 and adds the rest) before scheduling them.
    * ``skip`` / ``upstream_failed``: task instances resolved without running.
    * ``expand``: mapped tasks that expand now, with their length (always ≥ 1; a length of 0
      shows up as the placeholder in ``skip``).
    * ``run_state``: ``running`` until every task instance finished, then ``success`` or
      ``failed``; ``deadlocked`` tells a failed run that could not move any more.
    * ``next_wakeup``: the earliest ``not_before`` still in the future, if any, so the loop can
      set one timer instead of polling.
    """

    schedule: tuple[TIKey, ...] = ()
    skip: tuple[TIKey, ...] = ()
    upstream_failed: tuple[TIKey, ...] = ()
    expand: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    run_state: DagRunState = DagRunState.RUNNING
    deadlocked: bool = False
    next_wakeup: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.run_state in (DagRunState.SUCCESS, DagRunState.FAILED)

    @property
    def changes(self) -> dict[TIKey, TaskInstanceState]:
        """Every task-instance state change, in the order they were decided."""
        out: dict[TIKey, TaskInstanceState] = {}
        for key in self.schedule:
            out[key] = TI.SCHEDULED
        for key in self.skip:
            out[key] = TI.SKIPPED
        for key in self.upstream_failed:
            out[key] = TI.UPSTREAM_FAILED
        return out


def evaluate_run(
    spec: DagSpec | DagGraph,
    ti_states: Mapping[TIKey, TIState | str],
    *,
    mapped_lengths: Mapping[str, int | None] = _EMPTY,
    branch_choices: Mapping[str, Iterable[str]] = _EMPTY,
    short_circuits: Mapping[str, bool] = _EMPTY,
    not_before: Mapping[TIKey, datetime] = _EMPTY,
    now: datetime | None = None,
) -> RunDecision:
    """Decide what happens next in one DAG run.

    ``ti_states`` holds every task instance of the run; a task with no entry counts as one
    task instance ``(task_id, -1)`` with no state, so a fresh run can pass ``{}``. Entries for
    tasks not in the spec are ignored (runs are pinned to one spec version).

    ``mapped_lengths``: for mapped tasks that map over upstream results, the expansion length
    once known (see ``mapping.expansion_length``); literal expansions need no entry.
    ``branch_choices``: for branch tasks that succeeded, the task ids they chose (already
    normalized by ``normalize_branch_choice``). ``short_circuits``: for short-circuit tasks
    that succeeded, the truthiness of their result. ``not_before``: when each
    ``up_for_retry`` / ``up_for_reschedule`` task instance may run again (see
    ``retry.next_retry_at``); with ``now=None`` such a task instance is due only if it has no
    entry.

    Runs in O(tasks + edges + task instances).
    """
    g = spec if isinstance(spec, DagGraph) else graph_of(spec)
    by_task = _group(g, ti_states)
    forced = _forced_skips(g, by_task, branch_choices, short_circuits)

    schedule: list[TIKey] = []
    skip: list[TIKey] = []
    ufail: list[TIKey] = []
    expand: dict[str, int] = {}
    wakeup: datetime | None = None
    own: dict[str, UpstreamCounts] = {}

    def resolve(tid: str, keys: Iterable[int], state: TaskInstanceState) -> None:
        tis = by_task[tid]
        target = skip if state is TI.SKIPPED else ufail
        for mi in keys:
            tis[mi] = state
            target.append((tid, mi))

    def start(tid: str, keys: Iterable[int], wakeup: datetime | None) -> datetime | None:
        """Schedule these instances, unless a retry or reschedule is not due yet."""
        tis = by_task[tid]
        for mi in keys:
            key = (tid, mi)
            if tis[mi] is not None and key in not_before:
                at = not_before[key]
                if now is None or now < at:
                    wakeup = at if wakeup is None or at < wakeup else wakeup
                    continue
            tis[mi] = TI.SCHEDULED
            schedule.append(key)
        return wakeup

    for tid in g.order:
        tis = by_task[tid]
        candidates = [mi for mi, st in tis.items() if st in SCHEDULABLE]
        if not candidates:
            continue
        if tid in forced:
            resolve(tid, candidates, TI.SKIPPED)
            continue
        if tid in g.group_ups:  # a mapped group's task after another: per map index
            per_index = instance_decisions(
                g.rules[tid], g.upstream[tid], g.group_ups[tid], tis, by_task, candidates,
                mapped_lengths[tid] if tid in mapped_lengths else g.literal_lengths.get(tid))
            if per_index is not None:
                if per_index[0] is not None:
                    expand[tid] = per_index[0]
                for mi, decision in per_index[1]:
                    if decision is Decision.SKIP:
                        resolve(tid, [mi], TI.SKIPPED)
                    elif decision is Decision.UPSTREAM_FAILED:
                        resolve(tid, [mi], TI.UPSTREAM_FAILED)
                    elif decision is Decision.RUN:
                        wakeup = start(tid, [mi], wakeup)
                continue

        counts = _upstream_counts(g, tid, by_task, own)
        if g.setups:
            counts = setup_counts(counts, (st for up in g.upstream[tid] if up in g.setups
                                           for st in by_task[up].values()))
        decision = decide(g.rules[tid], counts)
        if tid in g.indirect_setups:
            decision = setup_constraint(decision, (st for s in g.indirect_setups[tid]
                                                   for st in by_task[s].values()))
        unexpanded = tid in g.map_deps and list(tis) == [-1]
        if unexpanded and decision in (Decision.RUN, Decision.WAIT):
            decision = _mapped_upstream_decision(g.map_deps[tid], by_task) or decision

        if decision is Decision.SKIP:
            resolve(tid, candidates, TI.SKIPPED)
        elif decision is Decision.UPSTREAM_FAILED:
            resolve(tid, candidates, TI.UPSTREAM_FAILED)
        elif decision is Decision.RUN and unexpanded:
            length = (mapped_lengths[tid] if tid in mapped_lengths
                      else g.literal_lengths.get(tid))
            if length is None:
                # The values to map over can no longer appear once every task providing them
                # finished: Airflow marks the task upstream_failed then. While one is still
                # unfinished (an early-firing rule), Leoflow waits for it.
                if all(st in FINISHED for dep in g.map_deps[tid]
                       for st in by_task[dep].values()):
                    resolve(tid, [-1], TI.UPSTREAM_FAILED)
            elif length <= 0:
                resolve(tid, [-1], TI.SKIPPED)
            else:
                expand[tid] = length
                tis.clear()
                for mi in range(length):
                    tis[mi] = TI.SCHEDULED
                    schedule.append((tid, mi))
        elif decision is Decision.RUN:
            wakeup = start(tid, candidates, wakeup)

    run_state, deadlocked = _run_state(g, by_task)
    return RunDecision(
        schedule=tuple(schedule),
        skip=tuple(skip),
        upstream_failed=tuple(ufail),
        expand=MappingProxyType(expand),
        run_state=run_state,
        deadlocked=deadlocked,
        next_wakeup=wakeup if run_state is DagRunState.RUNNING else None,
    )


def _group(g: DagGraph, ti_states: Mapping[TIKey, TIState | str]) -> dict[str, dict[int, TIState]]:
    by_task: dict[str, dict[int, TIState]] = {tid: {} for tid in g.order}
    for (tid, mi), st in ti_states.items():
        tis = by_task.get(tid)
        if tis is not None:
            tis[mi] = None if st is None else TaskInstanceState(st)
    for tis in by_task.values():
        if not tis:
            tis[-1] = None
        elif -1 in tis and len(tis) > 1:
            # Expanded: the placeholder no longer stands for anything.
            del tis[-1]
    return by_task


def _all_success(tis: Mapping[int, TIState]) -> bool:
    return all(st == TI.SUCCESS for st in tis.values())


def _forced_skips(g: DagGraph, by_task: Mapping[str, Mapping[int, TIState]],
                  branch_choices: Mapping[str, Iterable[str]],
                  short_circuits: Mapping[str, bool]) -> set[str]:
    """Tasks that a finished branch or short-circuit task decided to skip."""
    forced: set[str] = set()
    for tid, choice in branch_choices.items():
        if tid not in by_task or not _all_success(by_task[tid]):
            continue
        follow = set(choice)
        # A direct downstream that is also reachable from a followed task is followed too
        # (the "empty branch" join: branch >> join and branch >> a >> join).
        follow |= g.descendants(follow)
        forced.update(d for d in g.downstream[tid] if d not in follow)
    for tid, truthy in short_circuits.items():
        if truthy or tid not in by_task or not _all_success(by_task[tid]):
            continue
        if g.short_circuit_all.get(tid, True):
            forced |= g.descendants([tid])
        else:
            forced.update(g.downstream[tid])
    return forced


def _upstream_counts(g: DagGraph, tid: str, by_task: Mapping[str, Mapping[int, TIState]],
                     own: dict[str, UpstreamCounts]) -> UpstreamCounts:
    """Sum of the upstream tasks' own counts; each task's own counts are computed once, after
    the walk has passed it (topological order guarantees its states are final by then)."""
    total = success = skipped = failed = upstream_failed = removed = 0
    for up in g.upstream[tid]:
        c = own.get(up)
        if c is None:
            c = own[up] = UpstreamCounts.of(by_task[up].values())
        total += c.total
        success += c.success
        skipped += c.skipped
        failed += c.failed
        upstream_failed += c.upstream_failed
        removed += c.removed
    return UpstreamCounts(total=total, success=success, skipped=skipped, failed=failed,
                          upstream_failed=upstream_failed, removed=removed)


def _mapped_upstream_decision(deps: tuple[str, ...],
                              by_task: Mapping[str, Mapping[int, TIState]]) -> Decision | None:
    """Airflow's ``MappedTaskUpstreamDep``: a failed or skipped (unexpanded) task that a mapped
    task maps over settles it without waiting for its trigger rule."""
    finished = {tis[-1] for dep in deps
                if -1 in (tis := by_task[dep]) and tis[-1] in FINISHED}
    if not finished or finished == {TI.SUCCESS}:
        return None
    if TI.FAILED in finished or TI.UPSTREAM_FAILED in finished:
        return Decision.UPSTREAM_FAILED
    if TI.SKIPPED in finished:
        return Decision.SKIP
    return Decision.WAIT


def _run_state(g: DagGraph, by_task: Mapping[str, Mapping[int, TIState]]
               ) -> tuple[DagRunState, bool]:
    """Airflow's ``DagRun.update_state``, after this call's decisions were applied."""
    unfinished = in_flight = False
    for tis in by_task.values():
        for st in tis.values():
            if st in UNFINISHED:
                unfinished = True
                if st in IN_FLIGHT:
                    in_flight = True
                    break
        if in_flight:
            break
    if unfinished:
        if in_flight:
            return DagRunState.RUNNING, False
        # Task instances remain, none is running or about to, and none could be scheduled.
        return DagRunState.FAILED, True
    for leaf in g.leaves if g.state_leaves is None else g.state_leaves:
        for st in by_task[leaf].values():
            if st in FAILED_STATES:
                return DagRunState.FAILED, False
    return DagRunState.SUCCESS, False
