"""Retry policies and the task state store's user-side API: authoring, matching, decisions.

The real path (scheduler, agent, user process) is in tests/e2e/test_retry_and_state.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from leoflow.sdk.retry_policy import (
    ExceptionRetryPolicy,
    RetryAction,
    RetryDecision,
    RetryPolicy,
    RetryRule,
    decide,
)
from leoflow.sdk.task_state import NEVER_EXPIRE, OP_TASK_STATE, TaskStateStore
from tests.unit.sdk.conftest import compile_source


class AppError(Exception):
    pass


class RateLimited(AppError):
    pass


def _decide(policy: RetryPolicy | None, exc: BaseException, try_number: int = 1
            ) -> dict[str, Any]:
    return decide(policy, exc, try_number=try_number, max_tries=3, context=None)


def test_rules_match_classes_dotted_paths_and_lists():
    assert RetryRule(exception=AppError).matches(RateLimited())
    assert not RetryRule(exception=AppError, match_subclasses=False).matches(RateLimited())
    assert RetryRule(exception=AppError, match_subclasses=False).matches(AppError())
    assert RetryRule(exception="builtins.ConnectionError").matches(ConnectionResetError())
    assert RetryRule(exception=[KeyError, "builtins.TimeoutError"]).matches(TimeoutError())
    assert not RetryRule(exception=[KeyError, "builtins.TimeoutError"]).matches(ValueError())
    # a package the environment lacks cannot have raised: the rule simply does not match
    assert not RetryRule(exception="requests.not_a_module.HTTPError").matches(ValueError())
    assert RetryRule(exception=[AppError, "x.y"]).exception_path == \
        f"{__name__}.AppError,x.y"


def test_bad_rules_are_refused_where_they_are_written():
    with pytest.raises(ValueError, match="dotted import path"):
        RetryRule(exception="ValueError")
    with pytest.raises(TypeError, match="exception class"):
        RetryRule(exception=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RetryAction"):
        RetryRule(exception=ValueError, action="retry")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of RetryRule"):
        ExceptionRetryPolicy(rules=[ValueError])  # type: ignore[list-item]


def test_first_matching_rule_decides_else_the_default():
    policy = ExceptionRetryPolicy(rules=[
        RetryRule(exception=RateLimited, retry_delay=timedelta(seconds=90), reason="slow down"),
        RetryRule(exception=AppError, action=RetryAction.FAIL),
    ])
    assert policy.evaluate(RateLimited(), 1, 3) == RetryDecision(
        RetryAction.RETRY, timedelta(seconds=90), "slow down")
    assert policy.evaluate(AppError(), 1, 3) == RetryDecision(
        RetryAction.FAIL, None, "Matched rule for AppError")
    assert policy.evaluate(KeyError(), 1, 3) == RetryDecision(RetryAction.DEFAULT)
    strict = ExceptionRetryPolicy(rules=[], default=RetryAction.FAIL)
    assert strict.evaluate(KeyError(), 1, 3).action is RetryAction.FAIL
    assert policy.serialize()["rules"][0] == {
        "exception": f"{__name__}.RateLimited", "action": "retry", "match_subclasses": True,
        "retry_delay": 90.0, "reason": "slow down"}


def test_decisions_become_the_fields_of_the_error_report(capsys):
    policy = ExceptionRetryPolicy(rules=[
        RetryRule(exception=RateLimited, retry_delay=timedelta(minutes=2), reason="429"),
        RetryRule(exception=PermissionError, action=RetryAction.FAIL, reason="auth"),
        RetryRule(exception=TimeoutError),
    ])
    assert _decide(policy, RateLimited()) == {"retry_delay": 120.0, "retry_reason": "429"}
    assert _decide(policy, PermissionError()) == {"no_retry": True, "retry_reason": "auth"}
    # RETRY without a delay keeps the task's own delay
    assert _decide(policy, TimeoutError()) == {"retry_reason": "Matched rule for TimeoutError"}
    assert _decide(policy, KeyError()) == {}
    assert _decide(None, KeyError()) == {}
    log = capsys.readouterr().err
    assert "retry after 120 s" in log and "fail without retrying (auth)" in log


def test_a_custom_policy_sees_the_try_and_a_broken_one_changes_nothing(capsys):
    class SecondTryFails(RetryPolicy):
        def evaluate(self, exception, try_number, max_tries, context=None):
            if try_number >= 2:
                return RetryDecision.fail(f"gave up on try {try_number} of {max_tries + 1}")
            return RetryDecision.retry(timedelta(seconds=1))

    assert _decide(SecondTryFails(), ValueError(), try_number=1) == {
        "retry_delay": 1.0, "retry_reason": ""}
    assert _decide(SecondTryFails(), ValueError(), try_number=2) == {
        "no_retry": True, "retry_reason": "gave up on try 2 of 4"}

    class Broken(RetryPolicy):
        def evaluate(self, exception, try_number, max_tries, context=None):
            raise RuntimeError("oops")

    class Wrong(RetryPolicy):
        def evaluate(self, exception, try_number, max_tries, context=None):
            return "retry"

    assert _decide(Broken(), ValueError()) == {}
    assert _decide(Wrong(), ValueError()) == {}
    err = capsys.readouterr().err
    assert "Broken raised RuntimeError: oops" in err and "not a RetryDecision" in err




def test_airflow_dag_with_a_retry_policy_and_the_task_state_store_compiles(tmp_path):
    result = compile_source(tmp_path, """
        from datetime import timedelta
        from airflow.sdk import DAG, ExceptionRetryPolicy, RetryAction, RetryRule, task
        from airflow.sdk.execution_time.context import NEVER_EXPIRE

        POLICY = ExceptionRetryPolicy(rules=[
            RetryRule(exception="requests.exceptions.HTTPError", action=RetryAction.FAIL),
            RetryRule(exception=ConnectionError, retry_delay=timedelta(seconds=10)),
        ])

        with DAG("policies", schedule=None, default_args={"retry_policy": POLICY}):
            @task(retries=5, retry_policy=POLICY)
            def call(task_state_store=None, ti=None):
                task_state_store.set("k", 1, retention=NEVER_EXPIRE)

            @task
            def inherits(task_state_store):
                return task_state_store.get("k")

            call() >> inherits()
    """, "dags.py")
    assert result["ok"], result
    assert [t["task_id"] for t in result["dags"][0]["tasks"]] == ["call", "inherits"]


def test_a_retry_policy_that_is_not_one_names_the_line(tmp_path):
    result = compile_source(tmp_path, """
        from airflow.sdk import DAG, task

        with DAG("bad_policy", schedule=None):
            @task(retries=1, retry_policy={"ConnectionError": "retry"})
            def call():
                pass

            call()
    """, "dags.py")
    assert not result["ok"]
    error = result["error"]
    assert error["kind"] == "definition"
    assert "task 'call': retry_policy must be a RetryPolicy" in error["message"]
    assert (Path(error["file"]).name, error["line"]) == ("dags.py", 9)  # the call() line


class _Recorder:
    """Answers the channel's ``task_state`` requests from a dict, as the agent would."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.requests: list[dict[str, Any]] = []

    def request(self, op: str, **fields: Any) -> Any:
        assert op == OP_TASK_STATE
        self.requests.append(fields)
        if fields["action"] == "get":
            found = fields["key"] in self.values
            return {"found": found, "value": self.values.get(fields["key"])}
        if fields["action"] == "set":
            self.values[fields["key"]] = fields["value"]
        elif fields["action"] == "delete":
            self.values.pop(fields["key"], None)
        else:
            self.values.clear()
        return None


def test_task_state_store_calls_and_their_checks():
    channel = _Recorder()
    store = TaskStateStore(channel)
    assert store.get("job", default="none") == "none"
    store.set("job", {"id": 7}, retention=NEVER_EXPIRE)
    store.set("n", None, retention=timedelta(hours=1))
    store.set("m", 1, retention=30)
    assert store.get("job") == {"id": 7}
    assert store.get("n", default="absent") is None  # a stored null is a value
    assert channel.requests[1] == {"action": "set", "key": "job", "value": {"id": 7},
                                   "never_expire": True}
    assert channel.requests[2]["retention_seconds"] == 3600.0
    assert channel.requests[3]["retention_seconds"] == 30.0
    store.delete("job")
    assert store.get("job") is None
    store.clear()
    assert channel.values == {}
    with pytest.raises(TypeError, match="not JSON-serializable"):
        store.set("x", object())
    with pytest.raises(ValueError, match="non-empty strings"):
        store.get("")
    with pytest.raises(TypeError, match="retention"):
        store.set("x", 1, retention="forever")
    with pytest.raises(ValueError, match="negative"):
        store.set("x", 1, retention=-1)


def test_async_methods_are_missing_as_on_airflow_3_3():
    store = TaskStateStore(_Recorder())
    with pytest.raises(AttributeError, match=r"'aget'.*synchronous.*task_state_store\.get"):
        store.aget  # noqa: B018
    assert not hasattr(store, "aset")
    assert repr(NEVER_EXPIRE) == "NEVER_EXPIRE"
