"""The standard provider's date, weekday and latest-only branching: authoring, dag.json, and
the choice each operator makes for a given clock and run (Airflow 3.3's rules).

Airflow's baseline run of its examples was recorded on Tuesday 2026-11-24 around 01:14 UTC
with manual runs; ``BASELINE_NOW`` replays that moment.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from leoflow import DAG, EmptyOperator
from leoflow.sdk import standard_branching as sb
from leoflow.sdk.context_objects import TaskInstance, build_context
from leoflow.sdk.errors import AirflowSkipException, DagDefinitionError
from leoflow.sdk.schedule_ticks import Cron, CronError, next_tick
from leoflow.sdk.sensor_loop import run_sensor
from leoflow.sdk.task_runner import execute_task
from leoflow.sdk.timetables import CronDataIntervalTimetable, CronTriggerTimetable
from tests.unit.sdk.conftest import by_id

BASELINE_NOW = datetime(2026, 11, 24, 1, 14, 30, tzinfo=UTC)  # a Tuesday
START = datetime(2021, 1, 1, tzinfo=UTC)


class NoXCom:
    def pull(self, task_ids, key, map_indexes):
        return [None for _ in task_ids]

    def push(self, key, value):
        raise AssertionError("not expected")


@pytest.fixture
def clock(monkeypatch):
    """Set the operators' wall clock: ``clock(datetime)``."""
    def set_now(moment: datetime) -> None:
        monkeypatch.setattr(sb, "utcnow", lambda: moment)
    set_now(BASELINE_NOW)
    return set_now


def context_for(task, *, run_type: str = "manual", logical_date: datetime | None = None,
                run_after: datetime = BASELINE_NOW, interval: tuple | None = None) -> dict:
    """The context the task runner builds from the control plane's JSON for one try."""
    def iso(value):
        return value.isoformat() if value is not None else None
    start, end = interval if interval else (logical_date, logical_date)
    raw = {"run_id": f"{run_type}__x", "run_type": run_type, "logical_date": iso(logical_date),
           "run_after": iso(run_after), "data_interval_start": iso(start),
           "data_interval_end": iso(end)}
    ti = TaskInstance(dag_id=task.dag_id, task_id=task.task_id, run_id=raw["run_id"],
                      task=task, transport=NoXCom())
    return build_context(raw, dag=task.dag, task=task, ti=ti)


def run_task(task, **context_args):
    """What the task runner does with the task: the value it reports (the chosen ids)."""
    return execute_task(task, {"operator": task.operator_kind}, [], {},
                        context_for(task, **context_args))


# -- the examples' own configurations at the baseline's moment ----------------------------------
def example_datetime_dags():
    """The three DAGs of example_branch_datetime_operator.py, as Airflow ships them."""
    out = []
    for dag_id, lower, upper, logical in (
            ("dt1", datetime(2020, 10, 10, 14, tzinfo=UTC), datetime(2020, 10, 10, 15,
                                                                   tzinfo=UTC), False),
            ("dt2", time(15, 0, 0), time(0, 0, 0), False),
            ("dt3", datetime(2020, 10, 10, 14, tzinfo=UTC), datetime(2020, 10, 10, 15,
                                                                   tzinfo=UTC), True)):
        with DAG(dag_id, start_date=START, schedule="@daily"):
            inside, outside = EmptyOperator(task_id="date_in_range"), EmptyOperator(
                task_id="date_outside_range")
            branch = sb.BranchDateTimeOperator(
                task_id="datetime_branch", follow_task_ids_if_true=["date_in_range"],
                follow_task_ids_if_false=["date_outside_range"], target_upper=upper,
                target_lower=lower, use_task_logical_date=logical)
            branch >> [inside, outside]
        out.append(branch)
    return out


def test_datetime_examples_take_the_false_branch_at_the_baselines_moment(clock):
    """Airflow: date_in_range skipped, date_outside_range success, in all three DAGs."""
    for branch in example_datetime_dags():
        chosen = run_task(branch, logical_date=BASELINE_NOW)
        assert chosen == ["date_outside_range"], branch.dag_id


def test_datetime_time_window_across_midnight(clock):
    branch = example_datetime_dags()[1]  # 15:00 .. 00:00 (next day)
    clock(datetime(2026, 11, 24, 16, 30, tzinfo=UTC))
    assert run_task(branch) == ["date_in_range"]
    clock(datetime(2026, 11, 24, 14, 59, tzinfo=UTC))
    assert run_task(branch) == ["date_outside_range"]


def test_datetime_compares_the_logical_date_or_run_after_when_asked(clock):
    with DAG("logical", start_date=START):
        branch = sb.BranchDateTimeOperator(
            task_id="b", follow_task_ids_if_true="yes", follow_task_ids_if_false="no",
            target_lower=datetime(2024, 1, 1, tzinfo=UTC), target_upper=None,
            use_task_logical_date=True)
        branch >> [EmptyOperator(task_id="yes"), EmptyOperator(task_id="no")]
    assert run_task(branch, logical_date=datetime(2023, 6, 1, tzinfo=UTC)) == "no"
    assert run_task(branch, logical_date=datetime(2024, 6, 1, tzinfo=UTC)) == "yes"
    # a manual run without a logical date: run_after (Airflow 3)
    assert run_task(branch, run_after=datetime(2023, 6, 1, tzinfo=UTC)) == "no"


def test_naive_targets_are_wall_clock_times_of_the_dags_timezone(clock):
    paris = ZoneInfo("Europe/Paris")
    with DAG("tz", start_date=datetime(2021, 1, 1, tzinfo=paris)):
        branch = sb.BranchDateTimeOperator(
            task_id="b", follow_task_ids_if_true="yes", follow_task_ids_if_false="no",
            target_lower=time(2, 0), target_upper=time(3, 0))
        branch >> [EmptyOperator(task_id="yes"), EmptyOperator(task_id="no")]
    clock(datetime(2026, 11, 24, 1, 30, tzinfo=UTC))  # 02:30 in Paris
    assert run_task(branch) == "yes"
    clock(datetime(2026, 11, 24, 2, 30, tzinfo=UTC))  # 03:30 in Paris
    assert run_task(branch) == "no"


def example_weekday_dag():
    """example_branch_day_of_week_operator.py's DAG."""
    with DAG("example_weekday_branch_operator", start_date=START, schedule="@daily"):
        true, false = EmptyOperator(task_id="branch_true"), EmptyOperator(task_id="branch_false")
        weekend, mid = (EmptyOperator(task_id="branch_weekend"),
                        EmptyOperator(task_id="branch_mid_week"))
        branch = sb.BranchDayOfWeekOperator(
            task_id="make_choice", follow_task_ids_if_true="branch_true",
            follow_task_ids_if_false="branch_false", week_day="Monday")
        branch_weekend = sb.BranchDayOfWeekOperator(
            task_id="make_weekend_choice", follow_task_ids_if_true="branch_weekend",
            follow_task_ids_if_false="branch_mid_week",
            week_day={sb.WeekDay.SATURDAY, sb.WeekDay.SUNDAY})
        branch >> [true, false]
        false >> branch_weekend >> [weekend, mid]
    return branch, branch_weekend


@pytest.mark.parametrize(("moment", "choice", "weekend_choice"), [
    (BASELINE_NOW, "branch_false", "branch_mid_week"),  # Tuesday: Airflow's baseline
    (datetime(2026, 11, 23, 12, tzinfo=UTC), "branch_true", "branch_mid_week"),  # Monday
    (datetime(2026, 11, 29, 12, tzinfo=UTC), "branch_false", "branch_weekend"),  # Sunday
])
def test_weekday_example_choices(clock, moment, choice, weekend_choice):
    clock(moment)
    branch, branch_weekend = example_weekday_dag()
    assert run_task(branch) == choice
    assert run_task(branch_weekend) == weekend_choice


def test_weekday_uses_the_dags_timezone_or_the_logical_date(clock):
    tokyo = ZoneInfo("Asia/Tokyo")
    with DAG("wd", start_date=datetime(2021, 1, 1, tzinfo=tokyo)):
        branch = sb.BranchDayOfWeekOperator(
            task_id="b", follow_task_ids_if_true="yes", follow_task_ids_if_false="no",
            week_day="wednesday")
        logical = sb.BranchDayOfWeekOperator(
            task_id="l", follow_task_ids_if_true="yes", follow_task_ids_if_false="no",
            week_day=["Friday", sb.WeekDay.SATURDAY], use_task_logical_date=True)
        [branch, logical] >> EmptyOperator(task_id="yes")
        [branch, logical] >> EmptyOperator(task_id="no")
    clock(datetime(2026, 11, 24, 20, tzinfo=UTC))  # Tuesday in UTC, Wednesday in Tokyo
    assert run_task(branch) == "yes"
    assert run_task(logical, logical_date=datetime(2026, 11, 27, tzinfo=UTC)) == "yes"
    assert run_task(logical, logical_date=datetime(2026, 11, 26, tzinfo=UTC)) == "no"


def test_weekday_enum_as_airflow_defines_it():
    assert sb.WeekDay.MONDAY == 1 and sb.WeekDay.SUNDAY == 7
    assert sb.WeekDay.validate_week_day("sunday") == {7}
    assert sb.WeekDay.validate_week_day(sb.WeekDay.FRIDAY) == {5}
    assert sb.WeekDay.validate_week_day({"Saturday", sb.WeekDay.SUNDAY}) == {6, 7}
    with pytest.raises(AttributeError, match="Invalid Week Day"):
        sb.WeekDay.validate_week_day("Funday")
    with pytest.raises(TypeError):
        sb.WeekDay.validate_week_day(3)
    # example_bash_decorator.py compares a day name with the enum: never equal
    assert "saturday" not in (sb.WeekDay.SATURDAY, sb.WeekDay.SUNDAY)


def test_day_of_week_sensor_as_in_example_sensors(clock):
    """week_day=MONDAY, timeout=3, soft_fail=True on a Tuesday: skipped after the timeout."""
    with DAG("example_sensors", start_date=START):
        sensor = sb.DayOfWeekSensor(task_id="week_day_sensor_failing_on_timeout", timeout=3,
                                    soft_fail=True, week_day=sb.WeekDay.MONDAY)
    context = context_for(sensor)
    assert sensor.poke(context) is False
    ticks = iter(range(100))
    with pytest.raises(AirflowSkipException, match="timed out"):
        run_sensor(sensor, context, now=lambda: float(next(ticks)), sleep=lambda s: None)
    clock(datetime(2026, 11, 23, 9, tzinfo=UTC))  # a Monday
    assert sensor.poke(context) is True


def test_day_of_week_sensor_with_the_logical_date(clock):
    with DAG("s", start_date=START):
        sensor = sb.DayOfWeekSensor(task_id="s", week_day={"Saturday", "Sunday"},
                                    use_task_logical_date=True)
    assert sensor.poke(context_for(sensor, logical_date=datetime(2026, 11, 28, tzinfo=UTC)))
    assert not sensor.poke(context_for(sensor, logical_date=BASELINE_NOW))


# -- LatestOnlyOperator ----------------------------------------------------------------------
def latest_only(schedule, tz=UTC):
    with DAG("latest_only_with_trigger", start_date=datetime(2021, 1, 1, tzinfo=tz),
             schedule=schedule):
        latest = sb.LatestOnlyOperator(task_id="latest_only")
        task1, task2 = EmptyOperator(task_id="task1"), EmptyOperator(task_id="task2")
        latest >> [task2, task1]
    return latest


def test_latest_only_lets_a_manual_run_through(clock):
    latest = latest_only(timedelta(hours=4))
    # the baseline's runs: manual, logical date now, data interval [now, now]
    assert run_task(latest, logical_date=BASELINE_NOW) == ["task1", "task2"]
    assert run_task(latest, logical_date=datetime(2020, 1, 1, tzinfo=UTC)) == ["task1", "task2"]
    assert run_task(latest) == ["task1", "task2"]  # no logical date at all


@pytest.mark.parametrize(("schedule", "tick", "followed"), [
    # DeltaTriggerTimetable: the run of tick T is the latest until T + 4 h
    (timedelta(hours=4), BASELINE_NOW - timedelta(hours=1), True),
    (timedelta(hours=4), BASELINE_NOW - timedelta(hours=5), False),
    (timedelta(hours=4), BASELINE_NOW + timedelta(minutes=1), False),  # not started yet
    # CronTriggerTimetable: the latest until the next cron tick
    ("@daily", datetime(2026, 11, 24, tzinfo=UTC), True),
    ("@daily", datetime(2026, 11, 23, tzinfo=UTC), False),
    ("*/10 * * * *", datetime(2026, 11, 24, 1, 10, tzinfo=UTC), True),
    ("*/10 * * * *", datetime(2026, 11, 24, 1, 0, tzinfo=UTC), False),
    (CronTriggerTimetable("0 * * * *", timezone="UTC"), datetime(2026, 11, 24, 1,
                                                                 tzinfo=UTC), True),
])
def test_latest_only_on_scheduled_runs(clock, schedule, tick, followed):
    latest = latest_only(schedule)
    chosen = run_task(latest, run_type="scheduled", logical_date=tick)
    assert chosen == (["task1", "task2"] if followed else [])


def test_latest_only_with_data_intervals(clock):
    """CronDataIntervalTimetable: the run of [00:00, 01:00) runs after 01:00 and is the
    latest until 02:00; the interval before it is not."""
    latest = latest_only(CronDataIntervalTimetable("0 * * * *", timezone="UTC"))
    hour = timedelta(hours=1)
    one = datetime(2026, 11, 24, 1, tzinfo=UTC)
    assert run_task(latest, run_type="scheduled", logical_date=one - hour,
                    interval=(one - hour, one)) == ["task1", "task2"]
    assert run_task(latest, run_type="scheduled", logical_date=one - 2 * hour,
                    interval=(one - 2 * hour, one - hour)) == []


def test_latest_only_without_a_next_tick_proceeds(clock):
    for schedule in (None, "@once"):
        latest = latest_only(schedule)
        assert run_task(latest, run_type="scheduled",
                        logical_date=datetime(2020, 1, 1, tzinfo=UTC)) == ["task1", "task2"]


# -- authoring and dag.json ------------------------------------------------------------------
def test_dag_json_of_each_operator(describe):
    with DAG("doc", start_date=START, schedule="@daily") as dag:
        latest = sb.LatestOnlyOperator(task_id="latest")
        dt = sb.BranchDateTimeOperator(
            task_id="dt", follow_task_ids_if_true=["a"], follow_task_ids_if_false="b",
            target_lower=time(15), target_upper=datetime(2020, 10, 10, 15, tzinfo=UTC))
        wd = sb.BranchDayOfWeekOperator(
            task_id="wd", follow_task_ids_if_true="a", follow_task_ids_if_false="b",
            week_day={"Sunday", sb.WeekDay.MONDAY}, use_task_logical_date=True)
        sensor = sb.DayOfWeekSensor(task_id="sensor", week_day="Monday", timeout=3,
                                    soft_fail=True)
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        latest >> sensor >> [dt, wd] >> a
        [dt, wd] >> b
    tasks = by_id(describe(dag))
    assert {tid: (t["operator"], t["operator_class"]) for tid, t in tasks.items()
            if tid not in "ab"} == {
        "latest": ("branch", "LatestOnlyOperator"),
        "dt": ("branch", "BranchDateTimeOperator"),
        "wd": ("branch", "BranchDayOfWeekOperator"),
        "sensor": ("sensor", "DayOfWeekSensor")}
    assert tasks["dt"]["options"] == {
        "follow_task_ids_if_true": ["a"], "follow_task_ids_if_false": "b",
        "target_lower": "15:00:00", "target_upper": "2020-10-10T15:00:00+00:00",
        "use_task_logical_date": False}
    assert tasks["wd"]["options"]["week_day"] == [1, 7]
    sensor_spec = tasks["sensor"]["sensor"]
    assert sensor_spec["trigger"] is None and sensor_spec["timeout"] == 3.0
    assert sensor_spec["soft_fail"] is True and sensor_spec["mode"] == "poke"
    assert tasks["sensor"]["upstream"] == ["latest"]


def test_a_users_branch_operator_runs_its_choose_branch(describe, clock):
    class EvenMinute(sb.BaseBranchOperator):
        def choose_branch(self, context):
            return {"even"} if context["logical_date"].minute % 2 == 0 else "odd"

    with DAG("custom", start_date=START) as dag:
        choice = EvenMinute(task_id="choose")
        choice >> [EmptyOperator(task_id="even"), EmptyOperator(task_id="odd")]
    assert by_id(describe(dag))["choose"]["operator"] == "branch"
    assert run_task(choice, logical_date=datetime(2026, 1, 1, 0, 2, tzinfo=UTC)) == ["even"]
    assert run_task(choice, logical_date=datetime(2026, 1, 1, 0, 3, tzinfo=UTC)) == "odd"


@pytest.mark.parametrize(("build", "message"), [
    (lambda: sb.BranchDateTimeOperator(task_id="x", follow_task_ids_if_true="a",
                                       follow_task_ids_if_false="b", target_lower=None,
                                       target_upper=None),
     "both target_upper and target_lower are None"),
    (lambda: sb.BranchDateTimeOperator(task_id="x", follow_task_ids_if_true="a",
                                       follow_task_ids_if_false="b", target_lower="14:00",
                                       target_upper=None),
     "target_lower must be a datetime, a time or None, got '14:00'"),
    (lambda: sb.BranchDateTimeOperator(task_id="x", follow_task_ids_if_true="a",
                                       target_lower=None, target_upper=time(1)),
     "needs follow_task_ids_if_false"),
    (lambda: sb.BranchDayOfWeekOperator(task_id="x", follow_task_ids_if_true="a",
                                        follow_task_ids_if_false="b", week_day="Funday"),
     "week_day 'Funday' is not a day of the week"),
    (lambda: sb.BranchDayOfWeekOperator(task_id="x", follow_task_ids_if_true=["a", 1],
                                        follow_task_ids_if_false="b", week_day="Monday"),
     "follow_task_ids_if_true must be a task id or a list of task ids"),
    (lambda: sb.DayOfWeekSensor(task_id="x"), r"DayOfWeekSensor\(.x.\) needs week_day"),
    (lambda: sb.DayOfWeekSensor(task_id="x", week_day=3), "week_day 3 is not a day"),
])
def test_bad_arguments_name_the_task_argument_file_and_line(build, message):
    with DAG("bad", start_date=START), pytest.raises(DagDefinitionError,
                                                     match=message) as caught:
        build()
    assert caught.value.file and caught.value.file.endswith("test_standard_branching.py")
    assert caught.value.line


def test_airflow_import_paths(tmp_path):
    """Airflow 3 and Airflow 2 paths compile unchanged through the import shim."""
    from leoflow.sdk import airflow_shim, registry
    from leoflow.sdk.compile_child import compile_file

    (tmp_path / "dag.py").write_text(textwrap.dedent("""
        import datetime
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.latest_only import LatestOnlyOperator
        from airflow.providers.standard.operators.datetime import BranchDateTimeOperator
        from airflow.providers.standard.operators.weekday import BranchDayOfWeekOperator
        from airflow.providers.standard.operators.branch import BaseBranchOperator
        from airflow.providers.standard.sensors.weekday import DayOfWeekSensor
        from airflow.providers.standard.utils.weekday import WeekDay
        from airflow.providers.common.compat.sdk import BaseBranchOperator as B
        from airflow.operators.latest_only import LatestOnlyOperator as L2
        from airflow.operators.datetime import BranchDateTimeOperator as D2
        from airflow.operators.weekday import BranchDayOfWeekOperator as W2
        from airflow.sensors.weekday import DayOfWeekSensor as S2
        from airflow.utils.weekday import WeekDay as WD2
        assert (L2, D2, W2, S2, WD2, B) == (LatestOnlyOperator, BranchDateTimeOperator,
                                             BranchDayOfWeekOperator, DayOfWeekSensor,
                                             WeekDay, BaseBranchOperator)
        with DAG("compat", schedule=datetime.timedelta(hours=4),
                 start_date=datetime.datetime(2021, 1, 1)) as dag:
            latest = LatestOnlyOperator(task_id="latest_only")
            day = BranchDayOfWeekOperator(task_id="day", week_day=WeekDay.MONDAY,
                                          follow_task_ids_if_true="mon",
                                          follow_task_ids_if_false="sensor")
            sensor = DayOfWeekSensor(task_id="sensor", week_day="Tuesday")
            mon = BranchDateTimeOperator(task_id="mon", follow_task_ids_if_true=[],
                                         follow_task_ids_if_false=[],
                                         target_lower=datetime.time(1), target_upper=None)
            latest >> day >> [mon, sensor]
    """), "utf-8")
    airflow_shim.install()
    try:
        result = compile_file(str(tmp_path / "dag.py"), str(tmp_path))
    finally:
        airflow_shim.uninstall()
        registry.clear()
    kinds = {t["task_id"]: t["operator"] for t in result["dags"][0]["tasks"]}
    assert kinds == {"latest_only": "branch", "day": "branch", "sensor": "sensor",
                     "mon": "branch"}


# -- the schedule's next tick ------------------------------------------------------------------
@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("@daily", datetime(2026, 11, 24, 0, 0), datetime(2026, 11, 25)),
    ("@hourly", datetime(2026, 11, 24, 1, 14), datetime(2026, 11, 24, 2)),
    ("*/15 9-17 * * mon-fri", datetime(2026, 11, 27, 17, 45), datetime(2026, 11, 30, 9)),
    ("0 12 1 * 0", datetime(2026, 11, 24, 13), datetime(2026, 11, 29, 12)),  # dom OR dow
    ("0 0 * * 7", datetime(2026, 11, 24), datetime(2026, 11, 29)),  # 7 is Sunday
    ("30 2 29 feb *", datetime(2026, 3, 1), datetime(2028, 2, 29, 2, 30)),
    ("@yearly", datetime(2026, 11, 24), datetime(2027, 1, 1)),
    ("5,10 0 1 JAN,jul *", datetime(2026, 1, 1, 0, 5), datetime(2026, 1, 1, 0, 10)),
])
def test_cron_next_tick(expression, after, expected):
    assert next_tick(expression, after.replace(tzinfo=UTC)) == expected.replace(tzinfo=UTC)


def test_cron_ticks_in_the_schedules_timezone():
    paris = ZoneInfo("Europe/Paris")
    # 02:00 Paris on 2026-03-29 does not exist (clocks go 02:00 -> 03:00)
    after = datetime(2026, 3, 28, 2, tzinfo=paris)
    tick = next_tick(CronTriggerTimetable("30 2 * * *", timezone="Europe/Paris"),
                     after.astimezone(UTC))
    assert tick is not None and tick > after and tick.tzinfo is UTC
    assert next_tick("0 9 * * *", datetime(2026, 6, 1, 8, tzinfo=UTC), paris) == datetime(
        2026, 6, 2, 7, tzinfo=UTC)  # 09:00 in Paris (summer) is 07:00 UTC


@pytest.mark.parametrize("expression", ["* * *", "61 * * * *", "*/0 * * * *", "x * * * *",
                                        "0 0 * 13 *"])
def test_bad_cron_is_named(expression):
    with pytest.raises(CronError):
        Cron(expression)
