# Asset watchers, written for Airflow 3.3 and run unchanged
# (tests/e2e/test_asset_watchers.py): a file that appears starts the consumer and is deleted.
from datetime import datetime

from airflow.providers.standard.triggers.file import (
    DirectoryFileDeleteTrigger,
    FileDeleteTrigger,
)
from airflow.sdk import DAG, Asset, AssetWatcher, get_current_context, task

WATCHED = "/tmp/leoflow-e2e-asset-watchers"  # the test creates and cleans it
START = datetime(2026, 1, 1)

inbox = Asset("watch_inbox", watchers=[AssetWatcher(
    name="inbox_file",
    trigger=FileDeleteTrigger(filepath=f"{WATCHED}/incoming.csv", poke_interval=0.2))])
flags = Asset("watch_flags", watchers=[AssetWatcher(
    name="us_flag",
    trigger=DirectoryFileDeleteTrigger(directory=f"{WATCHED}/flags", filename="us.flag",
                                       poke_interval=0.2))])


def _extras(asset):
    events = get_current_context()["triggering_asset_events"][asset]
    print(f"triggered by {len(events)} event(s): {[e.extra for e in events]}")
    return [e.extra for e in events]


with DAG(dag_id="watch_on_file", schedule=[inbox], start_date=START):

    @task
    def on_file():
        return _extras(inbox)

    on_file()

with DAG(dag_id="watch_on_flag", schedule=[flags], start_date=START):

    @task
    def on_flag():
        return _extras(flags)

    on_flag()
