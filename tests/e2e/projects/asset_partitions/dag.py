# Partitioned assets, written for Airflow 3.3 and run unchanged
# (tests/e2e/test_asset_partitions.py): a producer run keyed by its trigger, a producer that
# adds its keys at run time, and partition-aware consumers keyed by the mapped key.
from datetime import datetime

from airflow.sdk import (
    DAG,
    Asset,
    FixedKeyMapper,
    PartitionedAssetTimetable,
    PartitionedAtRuntime,
    RollupMapper,
    SegmentWindow,
    StartOfDayMapper,
    StartOfHourMapper,
    get_current_context,
    task,
)

START = datetime(2026, 1, 1)
hourly = Asset(uri="s3://part/hourly.csv", name="part_hourly")
a = Asset(uri="s3://part/a.csv", name="part_a")
b = Asset(uri="s3://part/b.csv", name="part_b")
regions = Asset(uri="s3://part/regions.csv", name="part_regions")

with DAG(dag_id="part_produce_hourly", schedule=PartitionedAtRuntime(), start_date=START):

    @task(outlets=[hourly])
    def make_hourly(dag_run=None):
        print(f"producing partition {dag_run.partition_key}")

    make_hourly()

for name, asset in (("a", a), ("b", b)):
    with DAG(dag_id=f"part_produce_{name}", schedule=PartitionedAtRuntime(), start_date=START):

        @task(outlets=[asset], task_id=f"make_{name}")
        def make(dag_run=None):
            print(f"producing partition {dag_run.partition_key}")

        make()

with DAG(dag_id="part_produce_regions", schedule=PartitionedAtRuntime(), start_date=START):

    @task(outlets=[regions])
    def make_regions(*, outlet_events=None, dag_run=None):
        for region in dag_run.conf.get("regions", ["us", "eu", "apac"]):
            outlet_events[regions].add_partitions(region)

    make_regions()

with DAG(dag_id="part_on_hour", start_date=START,
         schedule=PartitionedAssetTimetable(assets=hourly,
                                            default_partition_mapper=StartOfHourMapper())):

    @task
    def on_hour(dag_run=None):
        context = get_current_context()
        print(f"consumer partition_key={dag_run.partition_key} "
              f"context={context['partition_key']}")
        return dag_run.partition_key

    on_hour()

with DAG(dag_id="part_on_a_and_b", start_date=START,
         schedule=PartitionedAssetTimetable(assets=a & b,
                                            default_partition_mapper=StartOfDayMapper())):

    @task
    def on_both(dag_run=None):
        events = get_current_context()["triggering_asset_events"]
        print(f"consumer partition_key={dag_run.partition_key}")
        return sorted(e.partition_key for asset in (a, b) for e in events[asset])

    on_both()

with DAG(dag_id="part_all_regions", start_date=START,
         schedule=PartitionedAssetTimetable(
             assets=regions,
             default_partition_mapper=RollupMapper(
                 upstream_mapper=FixedKeyMapper("all_regions"),
                 window=SegmentWindow(["us", "eu", "apac"])))):

    @task
    def on_all_regions(dag_run=None):
        print(f"consumer partition_key={dag_run.partition_key}")
        return dag_run.partition_key

    on_all_regions()
