# The DAGs of the IDE's asset tests (tests/integration/ide/test_assets.py and the browser
# journey): two producers, a consumer on `orders & (customers | refunds)`, and an @asset.
from datetime import datetime

from airflow.sdk import DAG, Asset, asset, task

START = datetime(2026, 1, 1)
orders = Asset("ide_orders")
customers = Asset(uri="s3://ide/customers.csv", name="ide_customers")
refunds = Asset("ide_refunds")  # consumed, produced by no DAG

with DAG(dag_id="ide_produce_orders", schedule=None, start_date=START, catchup=False):

    @task(outlets=[orders])
    def load_orders(*, outlet_events=None):
        outlet_events[orders].extra = {"rows": 42}

    load_orders()

with DAG(dag_id="ide_produce_customers", schedule=None, start_date=START, catchup=False):

    @task(outlets=[customers])
    def load_customers():
        return "customers"

    load_customers()

with DAG(dag_id="ide_report", schedule=orders & (customers | refunds), start_date=START,
         catchup=False):

    @task(inlets=[orders])
    def build_report():
        return "report"

    build_report()


@asset(schedule=None, uri="s3://ide/prices.parquet")
def ide_prices():
    return "prices"
