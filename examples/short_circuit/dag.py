# short_circuit: stop a pipeline early when there is nothing to do.
# Shows @task.short_circuit: a falsy return value skips everything downstream of it.
from datetime import datetime

from leoflow import DAG, Param, get_current_context, task

with DAG(
    dag_id="short_circuit",
    description="Process new files only when there are some.",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    params={"new_files": Param(3, type="integer", minimum=0,
                               description="How many new files the check finds")},
    tags=["example", "short-circuit"],
):

    @task
    def list_new_files() -> list[str]:
        # Stands in for listing a landing folder; trigger with {"new_files": 0} to see the
        # rest of the DAG skipped.
        count = get_current_context()["params"]["new_files"]
        return [f"batch_{i:03d}.csv" for i in range(count)]

    @task.short_circuit
    def anything_to_do(files: list[str]) -> bool:
        print(f"{len(files)} new file(s)")
        return len(files) > 0

    @task
    def process(files: list[str]) -> int:
        return len(files)

    @task
    def notify(processed: int) -> str:
        return f"processed {processed} file(s)"

    files = list_new_files()
    processed = process(files)
    anything_to_do(files) >> processed
    notify(processed)
