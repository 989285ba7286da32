"""Retry policies (Airflow 3.3's ``retry_policy=``): decide per exception how a failure retries.

A policy is user code, so it runs where the exception is: in the user process, when the
task's code raised. Its decision travels with the error report (``error`` message on the
channel, then ``ReportState``) and the scheduler applies it:

* ``RetryAction.FAIL``: no retry, even with tries left (as ``AirflowFailException``);
* ``RetryAction.RETRY``: retry, after the rule's ``retry_delay`` when it has one (else the
  task's own delay and backoff). It never adds tries: with none left the task fails;
* ``RetryAction.DEFAULT``: the task's ``retries`` / ``retry_delay`` as without a policy.

``AirflowFailException`` and ``AirflowSensorTimeout`` never reach the policy (Airflow's
rule). A policy that raises, or returns something that is not a ``RetryDecision``, is
reported in the log and counts as ``DEFAULT``: a broken policy must not hide the task's
own error. Standard library only: this runs in the DAG's own interpreter.
"""

from __future__ import annotations

import abc
import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from leoflow.sdk.errors import DagDefinitionError

__all__ = ["ExceptionRetryPolicy", "RetryAction", "RetryDecision", "RetryPolicy", "RetryRule",
           "check_retry_policy", "decide"]

REASON_CHARS = 500  # Airflow keeps retry_reason in a String(500) column


class RetryAction(Enum):
    """What happens after a failure."""

    RETRY = "retry"
    FAIL = "fail"
    DEFAULT = "default"


@dataclass(frozen=True)
class RetryDecision:
    """A policy's answer: the action, an optional delay for this retry, and why."""

    action: RetryAction = RetryAction.DEFAULT
    retry_delay: timedelta | None = None
    reason: str | None = None

    @classmethod
    def fail(cls, reason: str | None = None) -> RetryDecision:
        return cls(action=RetryAction.FAIL, reason=reason)

    @classmethod
    def retry(cls, delay: timedelta | None = None, reason: str | None = None) -> RetryDecision:
        return cls(action=RetryAction.RETRY, retry_delay=delay, reason=reason)

    @classmethod
    def default(cls) -> RetryDecision:
        return cls(action=RetryAction.DEFAULT)


class RetryPolicy(abc.ABC):
    """Subclass and implement ``evaluate`` for a custom policy (it runs in the task's
    process, with the real exception object; the scheduler only sees the decision)."""

    @abc.abstractmethod
    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context: Mapping[str, Any] | None = None) -> RetryDecision:
        """Decide whether and how to retry after ``exception`` ended try ``try_number``."""

    def serialize(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement serialize()")


ExceptionSpec = type[BaseException] | str


def _import_string(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@dataclass
class RetryRule:
    """One exception-to-behaviour mapping of an ``ExceptionRetryPolicy``.

    ``exception`` is a class, a dotted import path (``"requests.exceptions.HTTPError"``,
    resolved when a failure is evaluated, so the package need not be importable at
    compile time) or a list of either. ``match_subclasses=False`` matches the exact type only.
    """

    exception: ExceptionSpec | list[ExceptionSpec]
    action: RetryAction = RetryAction.RETRY
    retry_delay: timedelta | None = None
    reason: str | None = None
    match_subclasses: bool = True
    _resolved: list[type[BaseException]] | None = field(default=None, init=False, repr=False,
                                                        compare=False)

    def __post_init__(self) -> None:
        for spec in self._specs:
            if isinstance(spec, str):
                if "." not in spec or not all(spec.split(".")):
                    raise ValueError("RetryRule exception string must be a dotted import path "
                                     f"(e.g. 'builtins.ValueError'), got {spec!r}")
            elif not (isinstance(spec, type) and issubclass(spec, BaseException)):
                raise TypeError("RetryRule exception must be an exception class or a dotted "
                                f"import path, got {spec!r}")
        if not isinstance(self.action, RetryAction):
            raise TypeError(f"RetryRule action must be a RetryAction, got {self.action!r}")
        if self.retry_delay is not None and not isinstance(self.retry_delay, timedelta):
            raise TypeError(f"RetryRule retry_delay must be a timedelta, got "
                            f"{self.retry_delay!r}")

    @property
    def _specs(self) -> list[ExceptionSpec]:
        return list(self.exception) if isinstance(self.exception, list) else [self.exception]

    @property
    def exception_path(self) -> str:
        """The dotted path(s) of the rule's exception class(es), comma-separated."""
        return ",".join(s if isinstance(s, str) else f"{s.__module__}.{s.__qualname__}"
                        for s in self._specs)

    def _classes(self) -> list[type[BaseException]]:
        if self._resolved is None:
            resolved = []
            for spec in self._specs:
                if isinstance(spec, str):
                    try:
                        resolved.append(_import_string(spec))
                    except (ImportError, AttributeError):
                        # a package the environment does not have cannot have raised
                        continue
                else:
                    resolved.append(spec)
            self._resolved = [c for c in resolved
                              if isinstance(c, type) and issubclass(c, BaseException)]
        return self._resolved

    def matches(self, exc: BaseException) -> bool:
        classes = self._classes()
        if not classes:
            return False
        if self.match_subclasses:
            return isinstance(exc, tuple(classes))
        return type(exc) in classes

    def serialize(self) -> dict[str, Any]:
        paths = self.exception_path.split(",")
        data: dict[str, Any] = {"exception": paths if len(paths) > 1 else paths[0],
                                "action": self.action.value,
                                "match_subclasses": self.match_subclasses}
        if self.retry_delay is not None:
            data["retry_delay"] = self.retry_delay.total_seconds()
        if self.reason is not None:
            data["reason"] = self.reason
        return data


class ExceptionRetryPolicy(RetryPolicy):
    """Rules evaluated in order; the first that matches decides, else ``default``."""

    def __init__(self, rules: list[RetryRule],
                 default: RetryAction = RetryAction.DEFAULT) -> None:
        if not isinstance(rules, (list, tuple)) or not all(isinstance(r, RetryRule)
                                                           for r in rules):
            raise TypeError(f"ExceptionRetryPolicy(rules=...) must be a list of RetryRule, "
                            f"got {rules!r}")
        if not isinstance(default, RetryAction):
            raise TypeError(f"ExceptionRetryPolicy(default=...) must be a RetryAction, got "
                            f"{default!r}")
        self.rules = list(rules)
        self.default = default

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context: Mapping[str, Any] | None = None) -> RetryDecision:
        for rule in self.rules:
            if rule.matches(exception):
                return RetryDecision(action=rule.action, retry_delay=rule.retry_delay,
                                     reason=rule.reason
                                     or f"Matched rule for {type(exception).__name__}")
        return RetryDecision(action=self.default)

    def serialize(self) -> dict[str, Any]:
        return {"__type": "ExceptionRetryPolicy", "rules": [r.serialize() for r in self.rules],
                "default": self.default.value}


def check_retry_policy(value: Any, task_id: str, file: str | None = None,
                       line: int | None = None) -> RetryPolicy | None:
    """The ``retry_policy`` argument of a task, refused at compile time when it is not one."""
    if value is None or isinstance(value, RetryPolicy):
        return value
    raise DagDefinitionError(f"task {task_id!r}: retry_policy must be a RetryPolicy (e.g. "
                             f"ExceptionRetryPolicy(rules=[...])), got {value!r}",
                             file=file, line=line)


def decide(policy: RetryPolicy | None, exc: BaseException, *, try_number: int,
           max_tries: int, context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields a policy adds to the ``error`` message: ``no_retry`` for FAIL,
    ``retry_delay`` (seconds) and ``retry_reason`` for RETRY; nothing for DEFAULT.

    Writes the decision to stderr, so the try's log says why it did (not) retry.
    """
    if policy is None:
        return {}
    name = type(policy).__name__
    try:
        decision = policy.evaluate(exc, try_number, max_tries, context)
    except Exception as failure:  # a broken policy must not replace the task's own error
        _say(f"retry policy {name} raised {type(failure).__name__}: {failure}; the task's "
             "own retries apply")
        return {}
    if not isinstance(decision, RetryDecision):
        _say(f"retry policy {name} returned {decision!r}, not a RetryDecision; the task's "
             "own retries apply")
        return {}
    reason = (decision.reason or "")[:REASON_CHARS]
    if decision.action is RetryAction.FAIL:
        _say(f"retry policy {name}: fail without retrying ({reason or 'no reason given'})")
        return {"no_retry": True, "retry_reason": reason}
    if decision.action is RetryAction.RETRY:
        fields: dict[str, Any] = {"retry_reason": reason}
        delay = ""
        if decision.retry_delay is not None:
            fields["retry_delay"] = max(0.0, decision.retry_delay.total_seconds())
            delay = f" after {fields['retry_delay']:g} s"
        _say(f"retry policy {name}: retry{delay} if tries remain ({reason or 'no reason'})")
        return fields
    return {}


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
