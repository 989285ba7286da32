# fan_out_aggregate: fetch and summarize each region in parallel, then aggregate them all.
# Shows a TaskGroup per region built in a loop, >> onto a group, and Label on edges.
from datetime import datetime

from leoflow import DAG, EmptyOperator, Label, TaskGroup, task

REGIONS = ["emea", "americas", "apac"]

with DAG(
    dag_id="fan_out_aggregate",
    description="Fetch and summarize each region in parallel, then combine.",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    tags=["example", "groups"],
):

    @task
    def fetch(region: str) -> list[int]:
        # Stands in for a per-region query; deterministic numbers derived from the name.
        seed = sum(ord(c) for c in region)
        return [(seed * (i + 1)) % 97 for i in range(10)]

    @task
    def summarize(region: str, values: list[int]) -> dict:
        return {"region": region, "count": len(values), "total": sum(values)}

    @task
    def aggregate(summaries: list[dict]) -> dict:
        totals = {s["region"]: s["total"] for s in summaries}
        print(f"grand total {sum(totals.values())} from {len(totals)} regions")
        return {"by_region": totals, "grand_total": sum(totals.values())}

    start = EmptyOperator(task_id="start")
    summaries = []
    for region in REGIONS:
        # Inside the group, task ids get the group's prefix: emea.fetch, emea.summarize.
        with TaskGroup(group_id=region, tooltip=f"fetch and summarize {region}") as group:
            summaries.append(summarize(region, fetch(region)))
        start >> Label(f"fetch {region}") >> group  # edge start -> emea.fetch, labelled

    # A list of results is a fan-in: aggregate waits for every region's summary.
    aggregate(summaries)
