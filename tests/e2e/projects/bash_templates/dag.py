"""End-to-end DAGs: BashOperator's output_processor and multiple_outputs (classic and
@task.bash), render_template, template files (template_ext, templates_exts,
template_searchpath, templates_dict), Params with int-keyed values_display and a required
param, and ObjectStoragePath (local I/O works, a remote scheme fails the task)."""

from __future__ import annotations

import json
import tempfile

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, BaseOperator, ObjectStoragePath, Param, get_current_context, task

START = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("bash_extras", schedule=None, start_date=START, catchup=False):
    describe = BashOperator(
        task_id="describe",
        bash_command='echo "not the last line"; printf \'{"folder": "%s", "count": 3}\\n\' /data',
        output_processor=json.loads, multiple_outputs=True)
    show = BashOperator(
        task_id="show", bash_command='echo "found $COUNT in $FOLDER"',
        env={"FOLDER": "{{ ti.xcom_pull(task_ids='describe', key='folder') }}",
             "COUNT": "{{ ti.xcom_pull(task_ids='describe', key='count') }}"},
        append_env=True)
    upper = BashOperator(task_id="upper", bash_command="echo shout",
                         output_processor=lambda line: line.upper() + "!")

    @task.bash(multiple_outputs=True, output_processor=json.loads)
    def decorated_stats() -> str:
        return "echo '{\"files\": 2, \"name\": \"{{ dag.dag_id }}\"}'"

    @task
    def check(stats: dict, files: int) -> str:
        return f"{stats['name']}:{files}"

    stats = decorated_stats()
    describe >> show
    check(stats, stats["files"])

    @task.bash
    def env_from_results(label: str) -> str:
        return 'echo "$LABEL:$NAME:$FILES"'

    # upstream results in @task.bash's env (example_bash_decorator.py does this)
    env_from_results.override(env={"NAME": stats["name"], "FILES": stats["files"],
                                   "LABEL": "plain"}, append_env=True)("x")


with DAG("bash_extras_failures", schedule=None, start_date=START, catchup=False):
    not_a_dict = BashOperator(task_id="not_a_dict", bash_command="echo plain",
                              multiple_outputs=True)

    def explode(line: str) -> dict:
        raise ValueError(f"cannot parse {line!r}")

    bad_processor = BashOperator(task_id="bad_processor", bash_command="echo x",
                                 output_processor=explode)
    after = BashOperator(task_id="after", bash_command="echo never")
    bad_processor >> after


class Report(BaseOperator):
    """A custom operator with a template file field, as Airflow's SQL operators have."""

    template_fields = ("sql", "note")
    template_ext = (".sql", ".txt")

    def __init__(self, sql: str, note: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.note = note

    def execute(self, context):
        print(f"SQL: {self.sql}")
        print(f"NOTE: {self.note}")
        return {"sql": self.sql.strip(), "note": self.note.strip()}


with DAG("templates_surface", schedule=None, start_date=START, catchup=False,
         params={"owner": "ada"}, template_searchpath=["more_templates"]):

    @task(templates_exts=[".sql"])
    def query(sql: str, label: str) -> dict:
        context = get_current_context()
        again = context["task"].render_template(
            "run {{ run_id }} by {{ params.owner }} ({{ extra }})", {**context, "extra": 7})
        listed = context["task"].render_template(["{{ params.owner }}", 3], context)
        return {"sql": sql.strip(), "label": label, "again": again, "listed": listed}

    @task(templates_dict={"greeting": "greeting.txt", "inline": "{{ params.owner }}!"},
          templates_exts=[".txt"])
    def greet(**kwargs) -> dict:
        return dict(kwargs["templates_dict"])

    query(sql="sql/report.sql", label="{{ params.owner }}.sql is not a file here")
    greet()
    Report(task_id="report", sql="sql/report.sql", note="greeting.txt")


with DAG("params_labels", schedule=None, start_date=START, catchup=False, params={
        "pick": Param(3, type=["number", "null"], enum=[1, 2, 3, None],
                      values_display={1: "One", 2: "Two", 3: "Three"}),
        "name": Param(type="string", minLength=3, title="Required")}):

    @task
    def use(**context) -> list:
        return [context["params"]["pick"], context["params"]["name"]]

    use()


with DAG("object_storage", schedule=None, start_date=START, catchup=False):

    @task
    def local_roundtrip() -> str:
        base = ObjectStoragePath(f"file://{tempfile.mkdtemp(prefix='leoflow-osp-')}")
        (base / "out").mkdir(exist_ok=True)
        target = base / "out" / "data.txt"
        target.write_text("stored")
        return target.read_text()

    @task
    def remote_write() -> str:
        bucket = ObjectStoragePath("s3://aws_default@airflow-tutorial-data/")
        bucket.mkdir(exist_ok=True)
        return str(bucket)

    @task
    def analyze(path: str) -> None:
        print(path)

    local_roundtrip()
    analyze(remote_write())
