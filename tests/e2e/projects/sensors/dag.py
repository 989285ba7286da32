# The DAGs of the end-to-end sensor tests (tests/e2e/test_sensors.py): where they wait is
# given at compile time by LEOFLOW_E2E_SENSOR_DIR and LEOFLOW_E2E_SENSOR_URL.
import os
import pathlib
from datetime import timedelta

from leoflow import (
    DAG,
    BaseOperator,
    DateTimeSensor,
    ExternalTaskSensor,
    FileSensor,
    FileTrigger,
    HttpSensor,
    PokeReturnValue,
    PythonSensor,
    TimeDeltaSensor,
    TimeDeltaTrigger,
    defer,
    task,
)

DIR = os.environ.get("LEOFLOW_E2E_SENSOR_DIR", "/nonexistent")
URL = os.environ.get("LEOFLOW_E2E_SENSOR_URL", "http://127.0.0.1:9/")
QUICK = {"poke_interval": 0.2, "timeout": 60}

with DAG("sensors_files", params={"dir": DIR}):
    # waits in the control plane from the start: no process at all
    FileSensor(task_id="deferred_file", filepath=f"{DIR}/deferred/*.csv", deferrable=True,
               **QUICK)
    # pokes in its process, holding its slot
    FileSensor(task_id="poked_file", filepath=f"{DIR}/poked.csv", **QUICK)
    # the path is a template: the process renders it, then defers
    FileSensor(task_id="templated_file", filepath="{{ params.dir }}/templated.csv",
               deferrable=True, **QUICK)

with DAG("sensors_http"):
    HttpSensor(task_id="http_deferred", url=URL, deferrable=True, **QUICK)
    HttpSensor(task_id="http_poked", url=URL, response_check=lambda r: r.json()["ready"],
               **QUICK)

with DAG("sensors_producer"):
    @task
    def produce():
        return "made"

    produce()

with DAG("sensors_consumer"):
    ExternalTaskSensor(task_id="wait_for_produce", external_dag_id="sensors_producer",
                       external_task_id="produce", **QUICK)

with DAG("sensors_time"):
    TimeDeltaSensor(task_id="short_delta", delta=timedelta(seconds=2))

with DAG("sensors_mapped", params={"dir": DIR}):
    # each instance's moment comes from its own input: its process defers to it
    DateTimeSensor.partial(task_id="at", timeout=60).expand(
        target_time=["2020-01-01T00:00:00+00:00", "2020-01-02T00:00:00+00:00"])
    FileSensor.partial(task_id="each_file", deferrable=True, **QUICK).expand(
        filepath=[f"{DIR}/mapped-a.txt", f"{DIR}/mapped-b.txt"])

# Run-time code reads the folder from params: a task's process does not get the compile
# environment's variables.
with DAG("sensors_reschedule", max_active_tasks=1, params={"dir": DIR}):
    # one task at a time: the file only appears if the sensor frees its slot between pokes
    def go_exists(path):
        print(f"poking {path}")
        return pathlib.Path(path).exists()

    PythonSensor(task_id="resched", python_callable=go_exists, op_args=[f"{DIR}/go"],
                 mode="reschedule", poke_interval=0.5, timeout=60)

    @task
    def make_go(params=None):
        pathlib.Path(params["dir"], "go").write_text("go")

    make_go()

with DAG("sensors_decorated", params={"dir": DIR}):
    @task.sensor(poke_interval=0.1, timeout=30)
    def counted(params=None):
        counter = pathlib.Path(params["dir"], "counter")
        n = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(n))
        return PokeReturnValue(is_done=n >= 3, xcom_value={"pokes": n})

    @task
    def report(value):
        return f"done after {value['pokes']} pokes"

    report(counted())


class Waiter(BaseOperator):
    """An operator that defers itself, Airflow's way."""

    def execute(self, context):
        print("deferring for a second")
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=1)), method_name="done",
                   kwargs={"started": context["ds"]}, timeout=timedelta(seconds=60))

    def done(self, context, event, started):
        return {"started": started, "event_keys": sorted(event)}


with DAG("sensors_defer", params={"dir": DIR}):
    Waiter(task_id="waiter")

    @task
    def simple(params=None):
        print("before the waits")
        first = defer(TimeDeltaTrigger(timedelta(seconds=1)))
        second = defer(FileTrigger(filepath=f"{params['dir']}/defer.flag", poke_interval=0.2))
        return {"first": sorted(first), "files": second["files"]}

    simple()

with DAG("sensors_timeouts"):
    PythonSensor(task_id="times_out", python_callable=lambda: False, poke_interval=0.1,
                 timeout=0.5, retries=2)
    PythonSensor(task_id="soft", python_callable=lambda: False, poke_interval=0.1,
                 timeout=0.5, soft_fail=True)
    FileSensor(task_id="deferred_times_out", filepath=f"{DIR}/never/*", deferrable=True,
               poke_interval=0.2, timeout=1, retries=2)
    FileSensor(task_id="deferred_soft", filepath=f"{DIR}/never/*", deferrable=True,
               poke_interval=0.2, timeout=1, soft_fail=True)
    # mapped: the path is only known at run time, so the sensor's process defers itself;
    # its timeout is still a sensor's (no retry; soft_fail skips)
    FileSensor.partial(task_id="runtime_times_out", deferrable=True, poke_interval=0.2,
                       timeout=1, retries=2).expand(filepath=[f"{DIR}/never/a"])
    FileSensor.partial(task_id="runtime_soft", deferrable=True, poke_interval=0.2,
                       timeout=1, soft_fail=True).expand(filepath=[f"{DIR}/never/b"])
