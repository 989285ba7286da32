# Assets at run time, written for Airflow 3.3 and run unchanged
# (tests/e2e/test_asset_runtime.py).
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Asset, AssetAlias, Metadata, asset, get_current_context, task

START = datetime(2026, 1, 1)
by_context = Asset(uri="s3://runtime/by-context.txt", name="by_context")
by_yield = Asset(uri="s3://runtime/by-yield.txt", name="by_yield")
by_classic = Asset(uri="s3://runtime/by-classic.txt", name="by_classic")
alias = AssetAlias("runtime-alias")
orders = Asset("orders")

with DAG(dag_id="produce_extras", schedule=None, start_date=START, catchup=False):

    @task(outlets=[by_context])
    def extra_by_context(*, outlet_events=None):
        outlet_events[by_context].extra = {"how": "context"}
        outlet_events[by_context].extra["rows"] = 3

    @task(outlets=[by_yield])
    def extra_by_yield():
        yield Metadata(by_yield, {"how": "yield"})
        return "returned"

    @task(outlets=[alias])
    def add_through_alias():
        events = get_current_context()["outlet_events"]
        events[alias].add(Asset("s3://runtime/added.txt"), extra={"how": "alias"})

    def _annotate(context, result):
        context["outlet_events"][by_classic].extra = {"how": "post_execute", "line": result}

    BashOperator(task_id="extra_by_classic", outlets=[by_classic], bash_command="echo done",
                 post_execute=_annotate)

    extra_by_context() >> extra_by_yield() >> add_through_alias()


with DAG(dag_id="read_extras", schedule=None, start_date=START, catchup=False):

    @task(inlets=[by_context, by_yield, alias])
    def read_in_python(*, inlet_events=None):
        return {"context": [e.extra for e in inlet_events[by_context]],
                "yield_last": inlet_events.for_asset(name="by_yield")[-1].extra,
                "through_alias": [(e.asset.uri, e.extra)
                                  for e in inlet_events.for_asset_alias(name="runtime-alias")],
                "source": [inlet_events[0][0].source_dag_id,
                           inlet_events[0][0].source_task_id]}

    BashOperator(
        task_id="read_in_template",
        inlets=[by_context],
        bash_command="echo '{{ inlet_events.for_asset(uri='s3://runtime/by-context.txt')[-1]"
                     ".extra | tojson }}'",
    )
    read_in_python()


with DAG(dag_id="consume_by_context", schedule=[by_context], start_date=START,
         catchup=False):

    @task
    def triggered_by(*, triggering_asset_events=None, dag_run=None):
        events = triggering_asset_events[by_context]
        return {"extras": [e.extra for e in events],
                "sources": [[e.source_dag_id, e.source_task_id] for e in events],
                "assets": [a.name for a in triggering_asset_events],
                "run_type": dag_run.run_type}

    triggered_by()


with DAG(dag_id="state_across_runs", schedule=None, start_date=START, catchup=False):

    @task(inlets=[orders], outlets=[orders])
    def count(asset_state_store=None):
        state = asset_state_store[orders]
        runs = state.get("runs", default=0) + 1
        state.set("runs", runs)
        state.set("scratch", {"a": 1})
        state.delete("scratch")
        return {"runs": runs, "scratch": state.get("scratch", default="gone")}

    count()


# Airflow's example_inlet_event_extra.py beside example_outlet_event_extra.py: an inlet
# Asset(uri) named by its URI, while "test-asset" (which a DAG produces) already has that
# URI: the inlet's asset is inactive and the tasks fail before running.
produced = Asset(uri="s3://output/1.txt", name="test-asset")
same_uri = Asset("s3://output/1.txt")

with DAG(dag_id="produce_test_asset", schedule=None, start_date=START, catchup=False):
    BashOperator(task_id="produce", outlets=[produced], bash_command=":")

with DAG(dag_id="read_inactive", schedule=None, start_date=START, catchup=False):

    @task(inlets=[same_uri], retries=2)
    def read_asset_event(*, inlet_events=None):
        for event in inlet_events[same_uri][:-2]:
            print(event.extra["hi"])

    BashOperator(task_id="read_from_classic", inlets=[same_uri],
                 bash_command="echo '{{ inlet_events.for_asset(uri='s3://output/1.txt')[-1]"
                              ".extra | tojson }}'")
    read_asset_event()


# @asset functions: self is the asset, context the task's context, any other parameter the
# upstream asset of that name (an inlet)
@asset(uri="s3://runtime/upstream.csv", schedule=None)
def upstream_asset(self, outlet_events):
    outlet_events[self].extra = {"rows": 7}


@asset(uri="s3://runtime/downstream.csv", schedule=None)
def downstream_asset(self, context, upstream_asset):
    events = context["inlet_events"][upstream_asset]
    return {"self": [self.name, self.uri], "upstream": [upstream_asset.name, upstream_asset.uri],
            "upstream_extras": [e.extra for e in events], "task": context["ti"].task_id}
