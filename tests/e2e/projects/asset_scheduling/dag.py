# Asset-triggered scheduling, written for Airflow 3.3 and run unchanged
# (tests/e2e/test_asset_scheduling.py): producers with outlets, consumers on [a], a & b,
# a | b, an alias resolved at run time, and one that stays paused.
from datetime import datetime

from airflow.sdk import DAG, Asset, AssetAlias, get_current_context, task

START = datetime(2026, 1, 1)
a = Asset(uri="s3://sched/a.csv", name="sched_a")
b = Asset(uri="s3://sched/b.csv", name="sched_b")
alias = AssetAlias("sched-alias")

with DAG(dag_id="sched_produce_a", schedule=None, start_date=START, catchup=False):

    @task(outlets=[a])
    def make_a(*, outlet_events=None):
        outlet_events[a].extra = {"rows": 7}

    make_a()

with DAG(dag_id="sched_produce_b", schedule=None, start_date=START, catchup=False):

    @task(outlets=[b])
    def make_b():
        return "b"

    make_b()

with DAG(dag_id="sched_produce_alias", schedule=None, start_date=START, catchup=False):

    @task(outlets=[alias])
    def make_dynamic():
        get_current_context()["outlet_events"][alias].add(
            Asset("s3://sched/dynamic.csv"), extra={"through": "alias"})

    make_dynamic()


def _seen():
    events = get_current_context()["triggering_asset_events"]
    return sorted((asset.name, [e.extra for e in found]) for asset, found in events.items())


with DAG(dag_id="sched_on_a", schedule=[a], start_date=START, catchup=False):

    @task
    def seen_on_a():
        return _seen()

    seen_on_a()

with DAG(dag_id="sched_on_a_and_b", schedule=a & b, start_date=START, catchup=False):

    @task
    def seen_on_both():
        return _seen()

    seen_on_both()

with DAG(dag_id="sched_on_a_or_b", schedule=a | b, start_date=START, catchup=False):

    @task
    def seen_on_either():
        return _seen()

    seen_on_either()

with DAG(dag_id="sched_on_alias", schedule=[alias], start_date=START, catchup=False):

    @task
    def seen_on_alias():
        events = get_current_context()["triggering_asset_events"]
        return {"asset": [e.extra for e in events[Asset("s3://sched/dynamic.csv")]],
                "alias": [e.asset.uri for e in events[alias]]}

    seen_on_alias()

with DAG(dag_id="sched_on_a_paused", schedule=[a], start_date=START, catchup=False):

    @task
    def never():
        return "never"

    never()
