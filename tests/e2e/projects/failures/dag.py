# DAGs that misbehave on purpose, for tests/e2e/test_failures.py.
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta

from leoflow import DAG, Param, get_current_context, task

START = datetime(2026, 1, 1)

with DAG("sleepers", schedule=None, start_date=START,
         params={"seconds": Param(60, type="number")}):
    # Both sleep on their first try (long enough to be killed); nap_retry returns at
    # once on its second try.
    @task
    def nap_once() -> int:
        context = get_current_context()
        print(f"pid {os.getpid()}", flush=True)
        time.sleep(context["params"]["seconds"])
        return 1

    @task(retries=1, retry_delay=timedelta(seconds=0.2))
    def nap_retry() -> int:
        context = get_current_context()
        try_number = context["ti"].try_number
        print(f"pid {os.getpid()} try {try_number}", flush=True)
        if try_number == 1:
            time.sleep(context["params"]["seconds"])
        return try_number

    nap_once()
    nap_retry()

with DAG("timeout", schedule=None, start_date=START):
    @task(execution_timeout=timedelta(seconds=1.5))
    def stuck() -> None:
        # A child of its own too: the whole process group must go.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        print(f"pid {os.getpid()} child {child.pid}", flush=True)
        time.sleep(120)

    @task
    def after_stuck() -> str:
        return "never"

    stuck() >> after_stuck()

with DAG("bad_values", schedule=None, start_date=START):
    @task
    def too_big() -> str:
        return "x" * (300 * 1024)  # over the 256 KB XCom cap

    @task
    def a_set() -> set:
        return {1, 2, 3}

    @task
    def downstream(value) -> str:
        return "never"

    downstream(too_big())
    downstream.override(task_id="downstream_of_set")(a_set())

with DAG("restart", schedule=None, start_date=START,
         params={"seconds": Param(4, type="number")}):
    @task
    def slow() -> int:
        print(f"pid {os.getpid()}", flush=True)
        print("before the restart", flush=True)
        time.sleep(get_current_context()["params"]["seconds"])
        print("after the restart", flush=True)
        time.sleep(0.5)  # a second batch: the first one after a restart is lost (see tests)
        print("done", flush=True)
        return 41

    @task
    def plus_one(value: int) -> int:
        print(f"got {value}")
        return value + 1

    plus_one(slow())

with DAG("chatty", schedule=None, start_date=START,
         params={"lines": Param(1_000_000, type="integer")}):
    @task
    def print_lines() -> int:
        total = get_current_context()["params"]["lines"]
        batch = 10_000
        for start in range(0, total, batch):
            end = min(total, start + batch)
            sys.stdout.write("".join(f"line {i}\n" for i in range(start, end)))
        sys.stdout.flush()
        return total

    print_lines()
