# sensors: waiting for a file, for time and for your own check, without holding a worker slot.
# Shows FileSensor(deferrable=True), TimeDeltaSensor, @task.sensor in reschedule mode and defer().
import time
from datetime import datetime, timedelta
from pathlib import Path

from leoflow import (
    DAG,
    FileSensor,
    Param,
    PokeReturnValue,
    TimeDeltaSensor,
    TimeDeltaTrigger,
    defer,
    task,
)

with DAG(
    dag_id="sensors",
    description="A file lands, the DAG notices, waits a little, checks it, and totals it.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"inbox": Param("/tmp/leoflow-sensors-inbox", type="string")},
    tags=["example", "sensors"],
):

    # Stands for another system dropping a file a moment after the run starts.
    @task
    def drop_file(params=None, ts_nodash=None) -> str:
        time.sleep(2)
        path = Path(params["inbox"], f"orders-{ts_nodash}.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("order,amount\n1,20\n2,22\n")
        return str(path)

    # The path is a template, so a short process renders it, then the control plane watches
    # the folder: no process and no slot while it waits.
    wait_for_file = FileSensor(
        task_id="wait_for_file",
        filepath="{{ params.inbox }}/orders-{{ ts_nodash }}.csv",
        deferrable=True,
        poke_interval=1,
        timeout=timedelta(minutes=5),
    )

    # Time sensors always wait in the control plane.
    settle = TimeDeltaSensor(task_id="settle", delta=timedelta(seconds=1))

    # Your own check, one short process per poke; the slot is free in between.
    @task.sensor(poke_interval=1, timeout=60, mode="reschedule")
    def rows_ready(params=None, ts_nodash=None) -> PokeReturnValue:
        lines = Path(params["inbox"], f"orders-{ts_nodash}.csv").read_text().splitlines()
        return PokeReturnValue(is_done=len(lines) > 1, xcom_value=len(lines) - 1)

    # defer() frees the slot; when the trigger fires the function runs again from the start
    # and defer() returns the trigger's event.
    @task
    def total(rows: int) -> dict:
        event = defer(TimeDeltaTrigger(timedelta(seconds=1)))
        return {"rows": rows, "resumed_after": "moment" in event}

    drop_file()
    rows = rows_ready()
    wait_for_file >> settle >> rows
    total(rows)
