# For tests/e2e/test_full_disk.py: ``flood`` prints until its log's disk is full (it never
# ends by itself), ``small`` prints one line and returns.
from datetime import datetime

from leoflow import DAG, task

START = datetime(2026, 1, 1)

with DAG("flood", schedule=None, start_date=START):
    @task
    def flood() -> None:
        line = "x" * 1000
        n = 0
        while True:
            n += 1
            print(f"{n} {line}", flush=n % 100 == 0)

    flood()

with DAG("small", schedule=None, start_date=START):
    @task
    def small() -> int:
        print("a small task, after space was freed")
        return 7

    small()
