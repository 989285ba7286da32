# hello: the smallest useful DAG: two Python tasks, the second receives the first's result.
# Shows @task and how a return value travels downstream as an XCom, with no wiring by hand.
from datetime import datetime

from leoflow import DAG, task

with DAG(
    dag_id="hello",
    description="Two tasks: make a greeting, then print it.",
    schedule=None,  # runs only when triggered
    start_date=datetime(2026, 1, 1),
    tags=["example", "starter"],
):

    @task
    def make_greeting(name: str) -> str:
        return f"Hello, {name}!"

    @task
    def shout(greeting: str) -> str:
        loud = greeting.upper()
        print(loud)
        return loud

    # Passing one task's result to another creates the edge make_greeting >> shout.
    shout(make_greeting("Leoflow"))
