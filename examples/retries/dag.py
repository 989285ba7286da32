# retries: tasks that fail on their first tries and succeed on a later one, retried automatically.
# Shows retries and retry_delay, and reading the try number from the run context.
from datetime import datetime, timedelta

from leoflow import DAG, BashOperator, get_current_context, task

with DAG(
    dag_id="retries",
    description="Transient failures absorbed by retries.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "retries"],
):

    # retries=2 allows three tries in all; each retry waits retry_delay first.
    @task(retries=2, retry_delay=timedelta(seconds=1))
    def unreliable_call() -> str:
        try_number = get_current_context()["ti"].try_number  # 1 on the first try
        if try_number < 3:
            raise ConnectionError(f"simulated transient error on try {try_number}")
        return f"succeeded on try {try_number}"

    # The same idea in a shell step: the command sees the try number through a template.
    flaky_shell = BashOperator(
        task_id="flaky_shell",
        bash_command=(
            'if [ "{{ ti.try_number }}" -lt 2 ]; then '
            'echo "try {{ ti.try_number }}: failing on purpose"; exit 1; fi; '
            'echo "try {{ ti.try_number }}: ok"'
        ),
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

    @task
    def report(message: str) -> str:
        print(message)
        return message

    flaky_shell >> report(unreliable_call())
