# Setup and teardown tasks, written for Airflow 3 (tests/e2e/test_setup_teardown.py).
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, setup, task, teardown


@setup
def create_cluster():
    print("creating cluster-7")
    return "cluster-7"


@teardown
def delete_cluster(cluster_id):
    print(f"deleting {cluster_id}")
    return f"deleted {cluster_id}"


@task
def broken_work(cluster_id):
    raise RuntimeError(f"the work on {cluster_id} broke")


@task
def work(cluster_id):
    return f"worked on {cluster_id}"


# The work fails: the teardown still runs (and gets the setup's result); the run fails.
with DAG("st_work_fails", schedule=None):
    cluster = create_cluster()
    with delete_cluster(cluster):
        broken_work(cluster)

# The setup fails: nothing inside its scope runs, the teardown included.
with DAG("st_setup_fails", schedule=None):
    s = BashOperator(task_id="create", bash_command="exit 2").as_setup()
    w = BashOperator(task_id="work", bash_command="echo work")
    t = BashOperator(task_id="delete", bash_command="echo delete").as_teardown(setups=s)
    s >> w >> t


def teardown_fails(dag_id: str, fail_dagrun: bool) -> None:
    with DAG(dag_id, schedule=None):
        s = BashOperator(task_id="create", bash_command="echo create").as_setup()
        w = BashOperator(task_id="work", bash_command="echo work")
        t = BashOperator(task_id="delete", bash_command="echo cannot delete; exit 3")
        t.as_teardown(setups=s, on_failure_fail_dagrun=fail_dagrun)
        s >> w >> t


# The teardown fails: by default the run still succeeds; with on_failure_fail_dagrun it fails.
teardown_fails("st_teardown_fails", fail_dagrun=False)
teardown_fails("st_teardown_fails_run", fail_dagrun=True)

# Clearing the work task runs its setup and teardown again, and nothing else.
with DAG("st_clear", schedule=None):
    c = create_cluster()
    done = work(c)
    done >> delete_cluster(c)
    BashOperator(task_id="unrelated", bash_command="echo unrelated")
