"""Sensors as the compiler describes them: the exact ``sensor`` object of every sensor, and
the errors a DAG author gets (file, line, the argument named)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from leoflow import (
    DAG,
    BaseOperator,
    BaseSensorOperator,
    BashSensor,
    DateTimeSensor,
    DateTimeSensorAsync,
    ExternalTaskSensor,
    FileSensor,
    HttpSensor,
    PokeReturnValue,
    PythonSensor,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
    TimeSensorAsync,
    task,
)
from leoflow.sdk.errors import DagDefinitionError
from tests.unit.sdk.conftest import by_id

WEEK = 7 * 24 * 3600.0


def spec(mode: str = "poke", trigger: dict | None = None, **overrides) -> dict:
    return {"mode": mode, "poke_interval": 60.0, "timeout": WEEK, "soft_fail": False,
            "exponential_backoff": False, "max_wait": None, "trigger": trigger, **overrides}


def test_time_sensors_always_carry_a_time_trigger(describe):
    with DAG("t", start_date=datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))) as d:
        TimeDeltaSensor(task_id="delta", delta=timedelta(minutes=5))
        TimeDeltaSensorAsync(task_id="delta_async", delta=30)
        DateTimeSensor(task_id="moment", target_time=datetime(2030, 1, 2, 3, 4, 5))
        DateTimeSensorAsync(task_id="aware",
                            target_time=datetime(2030, 1, 2, 3, 4, tzinfo=UTC))
        DateTimeSensor(task_id="iso", target_time="2030-01-02T03:04:05+01:00")
        DateTimeSensor(task_id="tpl",
                       target_time="{{ data_interval_end + macros.timedelta(hours=1) }}")
        TimeSensor(task_id="tod", target_time=time(7, 30))
        TimeSensorAsync(task_id="tod_async", target_time=time(23, 59, 1), timeout=60)
        TimeSensor(task_id="tod_poke", target_time=time(23, 59, 1), timeout=60)
        TimeDeltaSensor(task_id="delta_deferred", delta=30, timeout=60, deferrable=True)
    tasks = by_id(describe(d))
    assert tasks["tod_poke"]["sensor"]["timeout"] == 60.0
    assert tasks["delta_deferred"]["sensor"]["timeout"] == 60.0
    assert {t["operator"] for t in tasks.values()} == {"sensor"}
    assert tasks["delta"]["sensor"] == spec(trigger={
        "kind": "time", "kwargs": {"delta": 300.0, "from": "data_interval_end"}})
    assert tasks["delta_async"]["sensor"]["trigger"]["kwargs"]["delta"] == 30.0
    assert tasks["delta_async"]["operator_class"] == "TimeDeltaSensorAsync"
    assert tasks["moment"]["sensor"] == spec(trigger={
        "kind": "time", "kwargs": {"moment": "2030-01-02T03:04:05+00:00"}})
    assert tasks["aware"]["sensor"]["trigger"]["kwargs"] == {
        "moment": "2030-01-02T03:04:00+00:00"}
    assert tasks["iso"]["sensor"]["trigger"]["kwargs"] == {
        "moment": "2030-01-02T03:04:05+01:00"}
    assert tasks["tpl"]["sensor"]["trigger"]["kwargs"] == {
        "template": "{{ data_interval_end + macros.timedelta(hours=1) }}"}
    # TimeSensor is in the DAG's timezone, as Airflow's
    assert tasks["tod"]["sensor"]["trigger"] == {
        "kind": "time", "kwargs": {"time_of_day": "07:30:00", "timezone": "Europe/Paris"}}
    # as in Airflow, a deferrable TimeSensor / DateTimeSensor defers with no timeout (its
    # timeout bounds poking only); TimeDeltaSensor keeps it
    assert tasks["tod_async"]["sensor"] == spec(timeout=None, trigger={
        "kind": "time", "kwargs": {"time_of_day": "23:59:01", "timezone": "Europe/Paris"}})
    assert tasks["aware"]["sensor"]["timeout"] is None


def test_file_sensor_waits_in_the_control_plane_only_when_deferrable(describe):
    with DAG("f") as d:
        FileSensor(task_id="poke", filepath="/data/in/*.csv", poke_interval=5)
        FileSensor(task_id="deferred", filepath="/data/in/*.csv", recursive=True,
                   deferrable=True, poke_interval=timedelta(seconds=2), timeout=600,
                   soft_fail=True)
        FileSensor(task_id="templated", filepath="/data/{{ ds }}.csv", deferrable=True)
        FileSensor(task_id="resched", filepath="/x", mode="reschedule",
                   exponential_backoff=True, max_wait=timedelta(minutes=10))
    tasks = by_id(describe(d))
    assert tasks["poke"]["sensor"] == spec(poke_interval=5.0)
    assert tasks["poke"]["inputs"]["kwargs"] == {"filepath": {"literal": "/data/in/*.csv"}}
    assert tasks["deferred"]["sensor"] == spec(
        poke_interval=2.0, timeout=600.0, soft_fail=True, trigger={
            "kind": "file", "kwargs": {"filepath": "/data/in/*.csv", "recursive": True,
                                       "poke_interval": 2.0}})
    # a template is rendered at run time: the process renders it, then defers
    assert tasks["templated"]["sensor"] == spec()
    assert tasks["resched"]["sensor"] == spec(mode="reschedule", exponential_backoff=True,
                                              max_wait=600.0)


def test_user_code_sensors_become_reschedule_when_deferrable(describe):
    def ready(n: int) -> bool:
        return n > 1

    with DAG("u") as d:
        PythonSensor(task_id="py", python_callable=ready, op_args=[2], poke_interval=1,
                     timeout=30)
        PythonSensor(task_id="py_def", python_callable=ready, op_kwargs={"n": 3},
                     deferrable=True)
        BashSensor(task_id="sh", bash_command="test -f /tmp/{{ ds }}", deferrable=True)

        @task.sensor(poke_interval=2, timeout=10, mode="reschedule", soft_fail=True)
        def upstream_ready(x: int) -> PokeReturnValue:
            return PokeReturnValue(is_done=True, xcom_value=x)

        upstream_ready(5)
    tasks = by_id(describe(d))
    assert tasks["py"]["sensor"] == spec(poke_interval=1.0, timeout=30.0)
    assert tasks["py"]["inputs"]["args"] == [{"literal": 2}]
    assert tasks["py"]["callable"] == "test_user_code_sensors_become_reschedule_when_" \
                                      "deferrable.<locals>.ready"
    assert tasks["py_def"]["sensor"] == spec(mode="reschedule")
    assert tasks["sh"]["sensor"] == spec(mode="reschedule")
    assert tasks["sh"]["inputs"]["kwargs"] == {
        "bash_command": {"literal": "test -f /tmp/{{ ds }}"}}
    assert tasks["upstream_ready"]["operator"] == "sensor"
    assert tasks["upstream_ready"]["operator_class"] == "DecoratedSensorOperator"
    assert tasks["upstream_ready"]["sensor"] == spec(mode="reschedule", poke_interval=2.0,
                                                     timeout=10.0, soft_fail=True)
    assert tasks["upstream_ready"]["inputs"]["args"] == [{"literal": 5}]


def test_external_task_sensor_always_waits_in_the_control_plane(describe):
    with DAG("e") as d:
        ExternalTaskSensor(task_id="one", external_dag_id="producer",
                           external_task_id="load", poke_interval=10)
        ExternalTaskSensor(task_id="many", external_dag_id="producer",
                           external_task_ids=["a", "b"], allowed_states=["success", "skipped"],
                           failed_states=["failed"], execution_delta=timedelta(hours=1),
                           deferrable=True)
        ExternalTaskSensor(task_id="whole", external_dag_id="producer",
                           skipped_states=["skipped"])
    tasks = by_id(describe(d))
    base = {"external_dag_id": "producer", "allowed_states": ["success"],
            "failed_states": [], "skipped_states": [], "execution_delta": None}
    assert tasks["one"]["sensor"] == spec(poke_interval=10.0, trigger={
        "kind": "external_task", "kwargs": {**base, "external_task_ids": ["load"],
                                            "poke_interval": 10.0}})
    assert tasks["many"]["sensor"]["trigger"]["kwargs"] == {
        **base, "external_task_ids": ["a", "b"], "allowed_states": ["success", "skipped"],
        "failed_states": ["failed"], "execution_delta": 3600.0, "poke_interval": 60.0}
    assert tasks["whole"]["sensor"]["trigger"]["kwargs"] == {
        **base, "external_task_ids": None, "skipped_states": ["skipped"],
        "poke_interval": 60.0}


def test_http_sensor_defers_without_response_check_else_reschedules(describe):
    with DAG("h") as d:
        HttpSensor(task_id="plain", http_conn_id="api", endpoint="health",
                   request_params={"q": "1"}, headers={"X-A": "b"}, deferrable=True,
                   poke_interval=3)
        HttpSensor(task_id="url", url="http://127.0.0.1:8000/ready", deferrable=True,
                   method="post", extra_options={"timeout": 5})
        HttpSensor(task_id="checked", endpoint="health",
                   response_check=lambda r: "ok" in r.text, deferrable=True)
        HttpSensor(task_id="poking", endpoint="health")
    tasks = by_id(describe(d))
    assert tasks["plain"]["sensor"] == spec(poke_interval=3.0, trigger={
        "kind": "http", "kwargs": {"http_conn_id": "api", "endpoint": "health",
                                   "method": "GET", "headers": {"X-A": "b"}, "data": None,
                                   "request_params": {"q": "1"}, "extra_options": {},
                                   "poke_interval": 3.0}})
    assert tasks["url"]["sensor"]["trigger"]["kwargs"] == {
        "url": "http://127.0.0.1:8000/ready", "method": "POST", "headers": {}, "data": None,
        "request_params": {}, "extra_options": {"timeout": 5}, "poke_interval": 60.0}
    assert tasks["checked"]["sensor"] == spec(mode="reschedule")
    assert tasks["poking"]["sensor"] == spec()


def test_mapped_time_sensor_has_no_static_trigger_and_maps_its_input(describe):
    with DAG("m") as d:
        DateTimeSensor.partial(task_id="wait", timeout=120).expand(
            target_time=["2030-01-01T00:00:00+00:00", "2030-01-02T00:00:00+00:00"])
        FileSensor.partial(task_id="files", deferrable=True).expand(
            filepath=["/a", "/b"])
    tasks = by_id(describe(d))
    # each instance's trigger is only known from its own input: the process makes it
    assert tasks["wait"]["sensor"] == spec(timeout=120.0)
    assert tasks["wait"]["expand"]["values"] == {"target_time": {"literal": [
        "2030-01-01T00:00:00+00:00", "2030-01-02T00:00:00+00:00"]}}
    assert tasks["files"]["sensor"]["trigger"] is None


def test_custom_sensor_and_custom_operator(describe):
    class MySensor(BaseSensorOperator):
        def __init__(self, *, key: str, **kwargs):
            super().__init__(**kwargs)
            self.key = key

        def poke(self, context):
            return True

    class Waiter(BaseOperator):
        template_fields = ("path", "not_json")

        def __init__(self, *, path: str, **kwargs):
            super().__init__(**kwargs)
            self.path = path
            self.not_json = object()

        def execute(self, context):
            return self.path

    class Nothing(BaseOperator):
        pass

    with DAG("c") as d:
        MySensor(task_id="mine", key="k", deferrable=True, timeout=None)
        Waiter(task_id="waiter", path="/data/{{ ds }}")
        Nothing(task_id="nothing")
    tasks = by_id(describe(d))
    assert tasks["mine"]["sensor"] == spec(mode="reschedule", timeout=None)
    assert tasks["waiter"]["operator"] == "python"  # runs its execute in a process
    assert tasks["waiter"]["operator_class"] == "Waiter"
    assert tasks["waiter"]["inputs"]["kwargs"] == {"path": {"literal": "/data/{{ ds }}"}}
    assert tasks["nothing"]["operator"] == "empty"
    assert "sensor" not in tasks["waiter"]


@pytest.mark.parametrize(("build", "message"), [
    (lambda: PythonSensor(task_id="s", python_callable=lambda: 1, mode="sometimes"),
     "mode must be 'poke' or 'reschedule', got 'sometimes'"),
    (lambda: PythonSensor(task_id="s", python_callable=lambda: 1, poke_interval=-1),
     "poke_interval must be a timedelta or a number of seconds >= 0, got -1"),
    (lambda: PythonSensor(task_id="s", python_callable=lambda: 1, timeout="soon"),
     "timeout must be a timedelta or a number of seconds >= 0"),
    (lambda: PythonSensor(task_id="s", python_callable="not a function"),
     "python_callable must be callable"),
    (lambda: ExternalTaskSensor(task_id="s", external_dag_id="d", external_task_id="a",
                                external_task_ids=["b"]),
     "give external_task_id or external_task_ids, not both"),
    (lambda: ExternalTaskSensor(task_id="s", external_task_id="a"),
     "needs external_dag_id"),
    (lambda: ExternalTaskSensor(task_id="s", external_dag_id="d", allowed_states=["done"]),
     "allowed_states has unknown state(s) ['done']"),
    (lambda: ExternalTaskSensor(task_id="s", external_dag_id="d",
                                execution_date_fn=lambda dt: dt),
     "execution_date_fn is not supported"),
    (lambda: HttpSensor(task_id="s", endpoint="x", response_check="status == 200"),
     "response_check must be callable"),
    (lambda: HttpSensor(task_id="s"), "needs endpoint (with http_conn_id) or url"),
    (lambda: HttpSensor(task_id="s", endpoint="x", method="FETCH"), "unknown method 'FETCH'"),
    (lambda: FileSensor(task_id="s"), "needs filepath"),
    (lambda: FileSensor(task_id="s", filepath=""), "filepath must be a non-empty string"),
    (lambda: BashSensor(task_id="s"), "needs bash_command"),
    (lambda: TimeDeltaSensor(task_id="s"), "needs delta"),
    (lambda: TimeDeltaSensor(task_id="s", delta=timedelta(seconds=-5)),
     "delta must be a timedelta or a number of seconds >= 0"),
    (lambda: DateTimeSensor(task_id="s", target_time="next tuesday"),
     "target_time 'next tuesday' is neither an ISO 8601 datetime nor a Jinja template"),
    (lambda: DateTimeSensor(task_id="s", target_time=5), "target_time must be a datetime"),
    (lambda: TimeSensor(task_id="s", target_time="noon"), "target_time must be a datetime.time"),
    (lambda: PythonSensor(task_id="s", python_callable=lambda: 1, poke_every=5),
     "got unknown argument(s): poke_every"),
])
def test_bad_sensor_arguments_name_the_argument_file_and_line(build, message):
    with DAG("bad"), pytest.raises(DagDefinitionError) as caught:
        build()
    assert message in str(caught.value)
    assert caught.value.file == __file__
    assert caught.value.line is not None


def test_error_points_at_the_users_line():
    with DAG("bad"), pytest.raises(DagDefinitionError) as caught:
        FileSensor(task_id="s", filepath="/x", mode="push")  # this line
    source = Path(__file__).read_text("utf-8").splitlines()
    assert "# this line" in source[caught.value.line - 1]


def test_airflow_import_paths_reach_leoflows_sensors(tmp_path):
    """A DAG file written for Airflow 2 or 3 compiles unchanged through the import shim."""
    from leoflow.sdk import airflow_shim, registry
    from leoflow.sdk.compile_child import compile_file

    (tmp_path / "dag.py").write_text(textwrap.dedent("""
        from datetime import timedelta
        from airflow.sdk import DAG, BaseSensorOperator, PokeReturnValue
        from airflow.sdk.bases.sensor import BaseSensorOperator as B3
        from airflow.sensors.base import BaseSensorOperator as B2
        from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
        from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
        from airflow.providers.standard.sensors.time import TimeSensor
        from airflow.providers.standard.sensors.filesystem import FileSensor
        from airflow.providers.standard.sensors.python import PythonSensor
        from airflow.providers.standard.sensors.bash import BashSensor
        from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
        from airflow.providers.http.sensors.http import HttpSensor
        from airflow.sensors.filesystem import FileSensor as F2
        from airflow.sensors.python import PythonSensor as P2
        from airflow.sensors.external_task import ExternalTaskSensor as E2
        from airflow.sensors.time_delta import TimeDeltaSensor as T2
        from airflow.exceptions import (AirflowSensorTimeout, AirflowRescheduleException,
                                        TaskDeferred, TaskDeferralTimeout)
        from airflow.triggers.temporal import TimeDeltaTrigger, DateTimeTrigger
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger as TD3
        from airflow.providers.standard.triggers.file import FileTrigger
        assert B3 is B2 is BaseSensorOperator and F2 is FileSensor and TD3 is TimeDeltaTrigger
        with DAG("compat") as dag:
            TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=1))
            FileSensor(task_id="file", filepath="/x", deferrable=True)
            HttpSensor(task_id="http", endpoint="/", deferrable=True)
    """), "utf-8")
    airflow_shim.install()
    try:
        result = compile_file(str(tmp_path / "dag.py"), str(tmp_path))
    finally:
        airflow_shim.uninstall()
        registry.clear()
    kinds = {t["task_id"]: t["sensor"]["trigger"]["kind"] for t in result["dags"][0]["tasks"]}
    assert kinds == {"wait": "time", "file": "file", "http": "http"}


def test_compiled_sensors_pass_the_dag_schema_and_load_as_specs(tmp_path):
    """Through the real compiler (a child process) and dag.schema.json."""
    from leoflow.engine.compiler.compile import compile_project
    from leoflow.engine.spec.model import DagSpec

    project = tmp_path / "sensing"
    project.mkdir()
    (project / "leoflow.yaml").write_text("dag_id: sensing\n", "utf-8")
    (project / "dag.py").write_text(textwrap.dedent("""
        from datetime import timedelta
        from leoflow import DAG, task, FileSensor, TimeDeltaSensor, PythonSensor
        with DAG("sensing") as dag:
            wait = TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=2))
            landed = FileSensor(task_id="landed", filepath="/in/x", deferrable=True,
                                timeout=timedelta(minutes=1), soft_fail=True)
            py = PythonSensor(task_id="py", python_callable=lambda: True, mode="reschedule")
            @task.sensor(poke_interval=1)
            def ready():
                return True
            wait >> landed >> py >> ready()
    """), "utf-8")
    compiled = compile_project(project)
    spec_doc = DagSpec.from_json(compiled.documents[0])
    tasks = {t.task_id: t for t in spec_doc.tasks}
    assert tasks["wait"].sensor is not None and tasks["wait"].sensor.trigger.kind == "time"
    assert tasks["landed"].sensor.trigger.kwargs["filepath"] == "/in/x"
    assert tasks["landed"].sensor.timeout == 60.0 and tasks["landed"].sensor.soft_fail
    assert tasks["py"].sensor.mode == "reschedule" and tasks["py"].sensor.trigger is None
    assert tasks["ready"].sensor.poke_interval == 1.0


def test_default_args_set_sensor_settings_and_the_argument_wins(describe):
    with DAG("defaults", default_args={"poke_interval": 5, "mode": "reschedule",
                                       "timeout": timedelta(minutes=1), "retries": 2}) as d:
        PythonSensor(task_id="inherits", python_callable=lambda: True)
        PythonSensor(task_id="overrides", python_callable=lambda: True, mode="poke",
                     poke_interval=1)
    tasks = by_id(describe(d))
    assert tasks["inherits"]["sensor"] == spec(mode="reschedule", poke_interval=5.0,
                                               timeout=60.0)
    assert tasks["inherits"]["retries"] == 2
    assert tasks["overrides"]["sensor"] == spec(poke_interval=1.0, timeout=60.0)


def test_custom_operator_template_fields_as_one_string_and_upstream_results(describe):
    class Copy(BaseOperator):
        template_fields = "source"

        def __init__(self, *, source, **kwargs):
            super().__init__(**kwargs)
            self.source = source

        def execute(self, context):
            return self.source

    with DAG("tf") as d:
        @task
        def locate() -> str:
            return "/data/x"

        Copy(task_id="copy", source=locate())
    tasks = by_id(describe(d))
    assert tasks["copy"]["inputs"]["kwargs"] == {
        "source": {"xcom": {"task_id": "locate", "key": "return_value"}}}
    assert tasks["copy"]["upstream"] == ["locate"]

