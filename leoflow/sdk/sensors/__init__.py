"""Sensors: tasks that wait for something, with Airflow's names and arguments.

A sensor compiles to ``"operator": "sensor"`` and a ``sensor`` object in dag.json (see
docs/sensors.md). Where the wait needs no user code (a time, a file, an HTTP answer, another
DAG's task), the sensor carries a *trigger*: the control plane waits for it and no process
runs at all. Otherwise ``poke(context)`` runs in the task's process, in a loop (``mode=
"poke"``, the slot is held) or once per reschedule (``mode="reschedule"``, the slot is free
between pokes). Standard library only.

This package is the sensors' public face: DAG files, ``leoflow`` and the Airflow import
paths take every sensor from here. Each kind lives in a module of its own:

- ``base``: ``BaseSensorOperator`` and ``PokeReturnValue``, what every sensor shares;
- ``time_sensors``: ``TimeDeltaSensor``, ``DateTimeSensor``, ``TimeSensor`` (+ ``*Async``);
- ``file_sensor``: ``FileSensor`` (and Airflow's flavour, ``fs_conn_id="fs_default"``);
- ``user_code_sensors``: ``PythonSensor``, ``@task.sensor``, ``BashSensor``;
- ``external_task_sensor``: ``ExternalTaskSensor``;
- ``http_sensor``: ``HttpSensor`` and the response its ``response_check`` receives.

The poke loop itself is ``leoflow.sdk.sensor_loop``.
"""

from __future__ import annotations

from leoflow.sdk.errors import AirflowRescheduleException, AirflowSensorTimeout
from leoflow.sdk.sensors.base import BaseSensorOperator, PokeReturnValue
from leoflow.sdk.sensors.external_task_sensor import ExternalTaskSensor
from leoflow.sdk.sensors.file_sensor import AirflowFileSensor, FileSensor
from leoflow.sdk.sensors.http_sensor import HttpResponse, HttpSensor
from leoflow.sdk.sensors.time_sensors import (
    DateTimeSensor,
    DateTimeSensorAsync,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
    TimeSensorAsync,
)
from leoflow.sdk.sensors.user_code_sensors import (
    BashSensor,
    DecoratedSensorOperator,
    PythonSensor,
)

__all__ = [
    "AirflowFileSensor", "AirflowRescheduleException", "AirflowSensorTimeout",
    "BaseSensorOperator", "BashSensor", "DateTimeSensor", "DateTimeSensorAsync",
    "DecoratedSensorOperator", "ExternalTaskSensor", "FileSensor", "HttpResponse",
    "HttpSensor", "PokeReturnValue", "PythonSensor", "TimeDeltaSensor",
    "TimeDeltaSensorAsync", "TimeSensor", "TimeSensorAsync",
]
