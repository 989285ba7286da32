# Retry policies and the task state store, written for Airflow 3.3 and run unchanged
# (tests/e2e/test_retry_and_state.py).
import asyncio
from datetime import datetime, timedelta

from airflow.sdk import (
    DAG,
    ExceptionRetryPolicy,
    RetryAction,
    RetryDecision,
    RetryPolicy,
    RetryRule,
    get_current_context,
    task,
)
from airflow.sdk.execution_time.context import NEVER_EXPIRE

START = datetime(2026, 1, 1)
HOUR = timedelta(hours=1)


class QuotaExceeded(Exception):
    """What a rate-limited API raises."""


POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception=PermissionError, action=RetryAction.FAIL, reason="bad credentials"),
    RetryRule(exception=QuotaExceeded, retry_delay=timedelta(seconds=1), reason="quota"),
    RetryRule(exception=[TimeoutError, "builtins.ConnectionError"], retry_delay=HOUR,
              reason="the service is down"),
])


class GiveUpOnTheSecondTry(RetryPolicy):
    """A custom policy: retry once, quickly, then fail whatever retries remain."""

    def evaluate(self, exception, try_number, max_tries, context=None):
        if try_number >= 2:
            return RetryDecision.fail(f"try {try_number} of {max_tries + 1}: giving up")
        return RetryDecision.retry(timedelta(seconds=0.5), f"{context['ti'].task_id} once more")


with DAG("retry_policies", schedule=None, start_date=START,
         default_args={"retry_policy": POLICY}):

    @task(retries=3)
    def fails_fast():
        raise PermissionError("401 from the API")  # FAIL: no retry although 3 remain

    @task(retries=1, retry_delay=HOUR)
    def quick_retry(ti=None):
        if ti.try_number == 1:  # without the policy the retry would wait an hour
            raise QuotaExceeded("429 Too Many Requests")
        return ti.try_number

    @task(retries=1, retry_delay=timedelta(seconds=0.2))
    def no_rule_matches(ti=None):
        raise KeyError(f"try {ti.try_number}")  # DEFAULT: the task's own retries

    @task(retries=0)
    def retry_without_tries():
        raise QuotaExceeded("429")  # RETRY cannot add tries: failed at once

    @task(retries=5, retry_policy=GiveUpOnTheSecondTry())
    def custom_policy():
        raise ValueError("flaky")

    fails_fast()
    quick_retry()
    no_rule_matches()
    retry_without_tries()
    custom_policy()


with DAG("retry_policy_waits", schedule=None, start_date=START):

    @task(retries=5, retry_delay=timedelta(seconds=1), retry_policy=POLICY)
    def service_down():
        raise ConnectionRefusedError("no route to the API")  # RETRY after an hour

    service_down()


with DAG("task_state_across_tries", schedule=None, start_date=START):

    @task(retries=2, retry_delay=timedelta(seconds=0.2))
    def resumable_job(task_state_store=None, ti=None):
        job = task_state_store.get("job_id")
        if job is None:
            job = f"job-{ti.run_id[-6:]}"
            task_state_store.set("job_id", job, retention=NEVER_EXPIRE)
            task_state_store.set("scratch", "gone soon", retention=0)
            task_state_store.set("attempts", [ti.try_number])
            raise RuntimeError(f"worker lost after submitting {job}")
        attempts = [*task_state_store.get("attempts"), ti.try_number]
        task_state_store.set("attempts", attempts)
        scratch = task_state_store.get("scratch", default="expired")
        task_state_store.delete("job_id")
        after_delete = task_state_store.get("job_id", default="deleted")
        return {"job": job, "attempts": attempts, "scratch": scratch,
                "after_delete": after_delete}

    @task
    def from_the_context():
        store = get_current_context()["task_state_store"]
        store.set("a", 1)
        store.set("b", {"nested": [1.5]})
        store.clear()
        return store.get("a", default="cleared")

    @task(retries=1, retry_delay=timedelta(seconds=0.2))
    def per_map_index(n, task_state_store=None, ti=None):
        seen = task_state_store.get("n")
        task_state_store.set("n", n * 10)
        if ti.map_index == 1 and ti.try_number == 1:
            raise RuntimeError("index 1 fails once")
        return {"before": seen, "n": n, "try": ti.try_number}

    @task
    def too_big(task_state_store=None):
        try:
            task_state_store.set("blob", "x" * (300 * 1024))
        except Exception as exc:  # the control plane refuses it; the task goes on
            return f"{type(exc).__name__}: {exc}"
        return "stored"

    @task
    async def async_with_sync_calls(task_state_store=None):
        task_state_store.set("k", "v")
        await asyncio.sleep(0.01)
        return task_state_store.get("k")

    resumable_job()
    from_the_context()
    per_map_index.expand(n=[1, 2])
    too_big()
    async_with_sync_calls()


with DAG("task_state_async_api", schedule=None, start_date=START):

    @task(retries=1, retry_delay=timedelta(seconds=0.2))
    async def uses_aget(task_state_store=None):
        return await task_state_store.aget("progress", default={})  # not in Airflow 3.3

    uses_aget()
