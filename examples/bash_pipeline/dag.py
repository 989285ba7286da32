# bash_pipeline: shell steps with BashOperator and @task.bash, templated with {{ ds }}.
# Shows that a command's last stdout line is its XCom, read downstream via ti.xcom_pull.
from datetime import datetime

from leoflow import DAG, BashOperator, task

with DAG(
    dag_id="bash_pipeline",
    description="Shell steps that pass results along through XCom.",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    tags=["example", "bash"],
):
    # Commands (and env values) are Jinja templates rendered when the task runs:
    # {{ ds }} is the run's logical date as YYYY-MM-DD.
    announce = BashOperator(
        task_id="announce",
        bash_command='echo "processing partition $PARTITION"',
        env={"PARTITION": "{{ ds }}"},
        append_env=True,  # keep PATH and the rest of the environment
    )

    @task.bash
    def count_lines(lines: int) -> str:
        # A @task.bash function runs first and returns the command to execute. Work happens
        # in a fresh temporary folder that the command removes when it is done.
        return (
            'workdir="$(mktemp -d)" && '
            f'seq 1 {lines} > "$workdir/numbers.txt" && '
            'wc -l < "$workdir/numbers.txt" | tr -d " " && '
            'rm -r "$workdir"'
        )

    # The last line count_lines printed is its XCom; a template pulls it. A template is not
    # a Python reference, so the dependency on count_lines is declared with >> below.
    report = BashOperator(
        task_id="report",
        bash_command=(
            "echo \"{{ ds }}: counted {{ ti.xcom_pull(task_ids='count_lines') }} lines\""
        ),
    )

    announce >> count_lines(lines=42) >> report
