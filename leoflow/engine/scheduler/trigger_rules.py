"""The thirteen trigger rules of Airflow 3, as one pure function over upstream counts.

Airflow's ``TriggerRuleDep`` works in two steps, and so does ``decide``: first it may resolve a
task instance without running it (``skip`` or ``upstream_failed``) as soon as the outcome can
no longer change; then it says whether the rule is met (``run``) or not yet (``wait``). Both
steps look only at *finished* upstream task instances, which is what makes the "early" rules
fire early: ``one_success`` runs as soon as one upstream succeeded, ``one_failed`` as soon as
one failed, ``all_success`` is ``upstream_failed`` as soon as one upstream failed and
``skipped`` as soon as one was skipped, all without waiting for the others.

Counting is per task instance: an expanded mapped upstream contributes one count per map
index, an unexpanded one (or one that expanded to nothing and was skipped) contributes one.

``removed`` upstream instances never block a rule (they are subtracted from what must still
finish). Airflow 3.1 subtracts them only for expanded instances, which can leave a run waiting
forever and then failing as deadlocked; later Airflow versions subtract them everywhere, and
so does Leoflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from leoflow.engine.scheduler.states import TaskInstanceState, TIState
from leoflow.errors import LeoflowError

TI = TaskInstanceState


class TriggerRule(StrEnum):
    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    ALWAYS = "always"
    ALL_SKIPPED = "all_skipped"


class Decision(StrEnum):
    """What to do with a task instance whose dependencies were just evaluated."""

    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


class UnknownTriggerRule(LeoflowError):
    """A spec names a trigger rule Airflow 3 does not have (``dummy`` and
    ``none_failed_or_skipped`` were removed in Airflow 3)."""

    def __init__(self, rule: str, *, task_id: str | None = None) -> None:
        self.rule = rule
        self.task_id = task_id
        where = f"task {task_id!r}: " if task_id else ""
        super().__init__(f"{where}unknown trigger rule {rule!r}; expected one of "
                         f"{', '.join(r.value for r in TriggerRule)}")


@dataclass(frozen=True)
class UpstreamCounts:
    """How the upstream task instances of one task instance stand.

    ``total`` counts every upstream task instance, finished or not; the others count finished
    ones only, and ``done`` is their sum. The ``setup_*`` fields count the upstream setup tasks
    among them (Airflow's setup/teardown); a spec without setup tasks leaves them at 0, which
    makes ``all_done_setup_success`` behave exactly like ``all_done``.
    """

    total: int = 0
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    removed: int = 0
    setup_total: int = 0
    setup_success: int = 0
    setup_skipped: int = 0

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed + self.removed

    @classmethod
    def of(cls, states: Iterable[TIState]) -> UpstreamCounts:
        """Count a flat list of upstream task-instance states (no setup tasks)."""
        total = success = skipped = failed = upstream_failed = removed = 0
        for state in states:
            total += 1
            if state == TI.SUCCESS:
                success += 1
            elif state == TI.SKIPPED:
                skipped += 1
            elif state == TI.FAILED:
                failed += 1
            elif state == TI.UPSTREAM_FAILED:
                upstream_failed += 1
            elif state == TI.REMOVED:
                removed += 1
        return cls(total=total, success=success, skipped=skipped, failed=failed,
                   upstream_failed=upstream_failed, removed=removed)


def parse_rule(rule: str, *, task_id: str | None = None) -> TriggerRule:
    """The ``TriggerRule`` named ``rule``, or ``UnknownTriggerRule``."""
    try:
        return TriggerRule(rule)
    except ValueError:
        raise UnknownTriggerRule(rule, task_id=task_id) from None


def decide(rule: TriggerRule | str, c: UpstreamCounts) -> Decision:
    """Apply trigger rule ``rule`` to the upstream counts ``c``.

    A task with no upstream at all, or with ``always``, runs. Otherwise the table in
    ``docs/states.md`` applies; the code below mirrors Airflow's ``TriggerRuleDep`` branch by
    branch, the early resolution first.
    """
    rule = parse_rule(rule) if not isinstance(rule, TriggerRule) else rule
    if c.total == 0 or rule is TriggerRule.ALWAYS:
        return Decision.RUN
    s, k, f, u, r = c.success, c.skipped, c.failed, c.upstream_failed, c.removed
    n = c.total
    all_done = c.done >= n
    R = TriggerRule

    # Step 1: resolve without running once the outcome is settled.
    if rule is R.ALL_SUCCESS:
        if f or u:
            return Decision.UPSTREAM_FAILED
        if k:
            return Decision.SKIP
    elif rule is R.ALL_FAILED:
        if s or k:
            return Decision.SKIP
    elif rule is R.ONE_SUCCESS:
        if all_done and c.done == k:
            return Decision.SKIP
        if all_done and s <= 0:
            return Decision.UPSTREAM_FAILED
    elif rule is R.ONE_FAILED:
        if all_done and not (f or u):
            return Decision.SKIP
    elif rule is R.ONE_DONE:
        if all_done and not (f or s):
            return Decision.SKIP
    elif rule is R.NONE_FAILED:
        if f or u:
            return Decision.UPSTREAM_FAILED
    elif rule is R.NONE_FAILED_MIN_ONE_SUCCESS:
        if f or u:
            return Decision.UPSTREAM_FAILED
        if k == n:
            return Decision.SKIP
        if all_done and s == 0:
            return Decision.UPSTREAM_FAILED
    elif rule is R.NONE_SKIPPED:
        if k:
            return Decision.SKIP
    elif rule is R.ALL_SKIPPED:
        if s or f or u:
            return Decision.SKIP
    elif rule is R.ALL_DONE_MIN_ONE_SUCCESS:
        # Skipped upstreams do not count as "done" for this rule, so one skip settles it.
        if k > 0:
            return Decision.SKIP
        if s + f + u >= n - k - r and s == 0:
            return Decision.UPSTREAM_FAILED
    elif rule is R.ALL_DONE_SETUP_SUCCESS:
        if all_done and c.setup_total and c.setup_skipped >= c.setup_total:
            return Decision.SKIP
        if all_done and c.setup_total and c.setup_success == 0:
            return Decision.UPSTREAM_FAILED

    # Step 2: is the rule met?
    met: bool
    if rule is R.ALL_SUCCESS:
        met = n - s - r <= 0
    elif rule is R.ALL_FAILED:
        met = n - f - u - r <= 0
    elif rule is R.ALL_DONE:
        met = all_done
    elif rule is R.ONE_SUCCESS:
        met = s > 0
    elif rule is R.ONE_FAILED:
        met = bool(f or u)
    elif rule is R.ONE_DONE:
        met = s + f > 0
    elif rule is R.NONE_FAILED:
        met = n - s - k - r <= 0
    elif rule is R.NONE_FAILED_MIN_ONE_SUCCESS:
        met = n - s - k - r <= 0 and s > 0
    elif rule is R.NONE_SKIPPED:
        met = all_done and k == 0
    elif rule is R.ALL_SKIPPED:
        met = n - k - r <= 0
    elif rule is R.ALL_DONE_MIN_ONE_SUCCESS:
        met = k == 0 and s + f + u >= n - k - r and s > 0
    elif rule is R.ALL_DONE_SETUP_SUCCESS:
        met = all_done and not (c.setup_total and not c.setup_success)
    else:  # pragma: no cover - every member is handled above
        raise UnknownTriggerRule(str(rule))
    return Decision.RUN if met else Decision.WAIT
