"""Airflow's FileSensor and its connection (example_sensors.py's wait_for_file): the path is
the connection's ``path`` extra joined with ``filepath``; a connection that is not defined
fails the task, as on a fresh Airflow 3, which defines no fs_default."""

import os

import pendulum
from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.sdk import DAG

BASE = os.environ.get("LANDING_BASE", "/nonexistent")
QUICK = {"poke_interval": 0.2, "timeout": 60}

with DAG("fs_connection", schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC")):
    # no fs_default anywhere: both fail at once, as on Airflow
    FileSensor(task_id="poke_no_default", filepath="/tmp", **QUICK)
    FileSensor(task_id="deferred_no_default", filepath="/tmp", deferrable=True, **QUICK)
    # relative to the LANDING connection's base path, in the process and in the control plane
    FileSensor(task_id="poke_landing", fs_conn_id="landing", filepath="poked.csv", **QUICK)
    FileSensor(task_id="deferred_landing", fs_conn_id="landing", filepath="deferred/*.csv",
               deferrable=True, **QUICK)
