# taskflow_etl: extract, transform and load written with TaskFlow (@dag, @task, @task_group).
# Shows data flowing through return values, and a task group that nests the transform steps.
import json
import os
import random
import tempfile
from datetime import datetime

from leoflow import dag, task, task_group

REGIONS = ["north", "south", "east", "west"]


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "etl"],
)
def taskflow_etl():
    """Generate a day of orders, clean and total them per region, save the totals."""

    @task
    def extract() -> list[dict]:
        # Stands in for reading a source system: 50 orders, the same ones on every run.
        rng = random.Random(7)
        return [
            {
                "order_id": i,
                "region": rng.choice(REGIONS),
                "amount": round(rng.uniform(-20, 200), 2),  # a few are invalid (< 0)
            }
            for i in range(50)
        ]

    @task_group
    def transform(orders):
        """Clean, then aggregate. Task ids inside are prefixed: transform.drop_invalid."""

        @task
        def drop_invalid(orders: list[dict]) -> list[dict]:
            return [order for order in orders if order["amount"] >= 0]

        @task
        def total_by_region(orders: list[dict]) -> dict[str, float]:
            totals = dict.fromkeys(REGIONS, 0.0)
            for order in orders:
                totals[order["region"]] += order["amount"]
            return {region: round(total, 2) for region, total in totals.items()}

        # The group returns its last result, so it composes like a single task.
        return total_by_region(drop_invalid(orders))

    @task
    def load(totals: dict[str, float]) -> str:
        # Stands in for writing to a warehouse: a JSON file in a fresh temporary folder.
        path = os.path.join(tempfile.mkdtemp(prefix="taskflow_etl-"), "totals.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(totals, handle, indent=2, sort_keys=True)
        print(f"wrote {len(totals)} regions to {path}")
        return path

    load(transform(extract()))


taskflow_etl()
