"""A time sensor's timeout as in Airflow 3.3 (example_sensors.py): poking, a TimeSensor
whose moment is an hour away times out after 1 s (skipped with soft_fail); deferrable, it
defers with no timeout and keeps waiting for its moment."""

import datetime

import pendulum
from airflow.providers.standard.sensors.time import TimeSensor
from airflow.sdk import DAG

AN_HOUR_AWAY = (datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(hours=1)).time()

with DAG("time_sensor_timeouts", schedule=None,
         start_date=pendulum.datetime(2021, 1, 1, tz="UTC")):
    TimeSensor(task_id="poking", timeout=1, soft_fail=True, target_time=AN_HOUR_AWAY)
    TimeSensor(task_id="deferrable", timeout=1, soft_fail=True, target_time=AN_HOUR_AWAY,
               deferrable=True)
