# trigger_rules: a failing task whose failure is handled (one_failed alerts, all_done cleans up),
# and a @task.branch that picks one path, joined with none_failed_min_one_success.
from datetime import datetime

from leoflow import DAG, Label, Param, get_current_context, task

with DAG(
    dag_id="trigger_rules",
    description="Handle a failure and choose a branch with trigger rules.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"mode": Param("incremental", type="string", enum=["incremental", "full"],
                          description="Which refresh path the branch takes")},
    tags=["example", "trigger-rules"],
):
    # --- a failure that is expected and handled ------------------------------------------
    # call_flaky_api always fails. The run still succeeds: what decides a run's state is
    # its final tasks (alert_on_failure, cleanup, publish), and they all succeed.
    @task
    def call_flaky_api() -> str:
        raise RuntimeError("simulated outage: the upstream API answered 503")

    @task
    def read_local_cache() -> str:
        return "cached data"

    @task(trigger_rule="one_failed")
    def alert_on_failure() -> str:
        # Runs as soon as one upstream failed; skipped when both succeed.
        print("ALERT: a source failed, see its log")
        return "alert sent"

    @task(trigger_rule="all_done")
    def cleanup() -> str:
        # Runs once every upstream has finished, whatever the outcome.
        return "temporary resources released"

    sources = [call_flaky_api(), read_local_cache()]
    sources >> alert_on_failure()
    sources >> cleanup()

    # --- a branch ------------------------------------------------------------------------
    @task.branch
    def choose_refresh() -> str:
        # Return the task id to follow; the other direct downstream is skipped.
        mode = get_current_context()["params"]["mode"]
        return "full_refresh" if mode == "full" else "incremental_refresh"

    @task
    def full_refresh() -> int:
        return 1000

    @task
    def incremental_refresh() -> int:
        return 25

    # The default all_success would skip publish because one branch is always skipped.
    @task(trigger_rule="none_failed_min_one_success")
    def publish() -> str:
        return "published"

    branch = choose_refresh()
    full = full_refresh()
    incremental = incremental_refresh()
    branch >> Label("mode is full") >> full
    branch >> Label("mode is incremental") >> incremental
    [full, incremental] >> publish()
