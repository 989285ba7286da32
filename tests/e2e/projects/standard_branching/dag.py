# The DAGs of tests/e2e/test_standard_branching.py, written with Airflow's imports as an
# Airflow user would. Conditions are relative to the wall clock when the file is imported
# (at compile time and again in each task's process), chosen so that the branch taken does
# not change between the two: windows of hours, and weekday sets that leave out the days
# next to today.
import datetime

from airflow.providers.standard.operators.datetime import BranchDateTimeOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.latest_only import LatestOnlyOperator
from airflow.providers.standard.operators.weekday import BranchDayOfWeekOperator
from airflow.providers.standard.sensors.weekday import DayOfWeekSensor
from airflow.providers.standard.utils.weekday import WeekDay
from airflow.sdk import DAG, TaskGroup, TriggerRule

UTC = datetime.UTC
NOW = datetime.datetime.now(UTC)
TODAY = WeekDay(NOW.isoweekday())
NEAR = {WeekDay((TODAY - 1 + shift) % 7 + 1) for shift in (-1, 0, 1)}  # yesterday..tomorrow
FAR = sorted(set(WeekDay) - NEAR)  # four days that are not today whatever the hour
START = datetime.datetime(2021, 1, 1, tzinfo=UTC)

with DAG("sb_datetime", start_date=START, schedule="@daily", catchup=False):
    # now lies in [now - 1 h, now + 1 h]: the true branch
    in_window = BranchDateTimeOperator(
        task_id="in_window", follow_task_ids_if_true=["inside"],
        follow_task_ids_if_false=["outside"], target_lower=NOW - datetime.timedelta(hours=1),
        target_upper=NOW + datetime.timedelta(hours=1))
    in_window >> [EmptyOperator(task_id="inside"), EmptyOperator(task_id="outside")]
    # a window of the day that starts 1 to 2 hours from now (or is over, after midnight
    # wraps it to earlier today): the false branch, a task group given by its id
    lower = (NOW + datetime.timedelta(hours=2)).time().replace(minute=0, second=0,
                                                               microsecond=0)
    upper = (NOW + datetime.timedelta(hours=3)).time().replace(minute=0, second=0,
                                                               microsecond=0)
    by_time = BranchDateTimeOperator(
        task_id="by_time", follow_task_ids_if_true="daytime",
        follow_task_ids_if_false="night", target_lower=lower, target_upper=upper)
    with TaskGroup("night") as night:
        EmptyOperator(task_id="lights_off") >> EmptyOperator(task_id="sleep")
    by_time >> [EmptyOperator(task_id="daytime"), night]
    # the run's logical date (the test triggers 2024-06-01) against a range of 2024
    by_logical = BranchDateTimeOperator(
        task_id="by_logical", use_task_logical_date=True, follow_task_ids_if_true="in_2024",
        follow_task_ids_if_false="not_2024",
        target_lower=datetime.datetime(2024, 1, 1), target_upper=datetime.datetime(2025, 1, 1))
    by_logical >> [EmptyOperator(task_id="in_2024"), EmptyOperator(task_id="not_2024")]

# example_weekday_branch_operator's shape; both choices are false, as on Airflow's baseline day
with DAG("sb_weekday", start_date=START, schedule="@daily", catchup=False):
    true, false = EmptyOperator(task_id="branch_true"), EmptyOperator(task_id="branch_false")
    weekend, mid_week = (EmptyOperator(task_id="branch_weekend"),
                         EmptyOperator(task_id="branch_mid_week"))
    make_choice = BranchDayOfWeekOperator(
        task_id="make_choice", follow_task_ids_if_true="branch_true",
        follow_task_ids_if_false="branch_false", week_day=FAR[0].name.capitalize())
    make_weekend_choice = BranchDayOfWeekOperator(
        task_id="make_weekend_choice", follow_task_ids_if_true="branch_weekend",
        follow_task_ids_if_false="branch_mid_week", week_day=set(FAR[1:3]))
    make_choice >> [true, false]
    false >> make_weekend_choice >> [weekend, mid_week]
    # true: today (or tomorrow, should the run cross midnight)
    today = BranchDayOfWeekOperator(
        task_id="today_check", follow_task_ids_if_true="is_today",
        follow_task_ids_if_false="not_today", week_day=[d.name for d in NEAR])
    today >> [EmptyOperator(task_id="is_today"), EmptyOperator(task_id="not_today")]
    # the logical date 2024-06-01 was a Saturday
    saturday = BranchDayOfWeekOperator(
        task_id="saturday_check", follow_task_ids_if_true="is_saturday",
        follow_task_ids_if_false="not_saturday", week_day=WeekDay.SATURDAY,
        use_task_logical_date=True)
    saturday >> [EmptyOperator(task_id="is_saturday"), EmptyOperator(task_id="not_saturday")]
    # example_sensors' DayOfWeekSensor: another day, timeout 3 s, soft_fail: skipped
    DayOfWeekSensor(task_id="week_day_sensor_failing_on_timeout", timeout=3, soft_fail=True,
                    week_day=FAR[0], poke_interval=1) >> EmptyOperator(task_id="after_far")
    DayOfWeekSensor(task_id="week_day_sensor_today", week_day=set(NEAR), timeout=3,
                    soft_fail=True) >> EmptyOperator(task_id="after_today")


def latest_only_with_trigger(dag_id: str, schedule, start_date: datetime.datetime) -> DAG:
    """example_latest_only_with_trigger's shape, with catch-up runs before the latest one."""
    with DAG(dag_id, schedule=schedule, start_date=start_date, catchup=True) as dag:
        latest_only = LatestOnlyOperator(task_id="latest_only")
        task1 = EmptyOperator(task_id="task1")
        task2 = EmptyOperator(task_id="task2")
        task3 = EmptyOperator(task_id="task3")
        task4 = EmptyOperator(task_id="task4", trigger_rule=TriggerRule.ALL_DONE)
        latest_only >> task1 >> [task3, task4]
        task2 >> [task3, task4]
    return dag


MINUTE = NOW.replace(second=0, microsecond=0)
# every hour from 3 h 30 min ago: four runs, the last one 30 min ago is the latest
latest_only_with_trigger("sb_latest_delta", datetime.timedelta(hours=1),
                         MINUTE - datetime.timedelta(hours=3, minutes=30))
# at every full hour from two hours before the last one: three runs
latest_only_with_trigger("sb_latest_cron", "0 * * * *",
                         MINUTE.replace(minute=0) - datetime.timedelta(hours=2))
