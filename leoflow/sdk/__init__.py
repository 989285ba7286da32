"""The authoring SDK and the user-process side of Leoflow.

Everything here imports the standard library only: it runs inside every DAG's own
environment, beside the user's pinned packages.
"""

from leoflow.sdk.baseoperator import BaseOperator
from leoflow.sdk.dag import DAG, dag
from leoflow.sdk.decorators import task
from leoflow.sdk.edges import Label
from leoflow.sdk.errors import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    DagDefinitionError,
    DuplicateTaskIdFound,
    TaskDeferralTimeout,
    TaskDeferred,
)
from leoflow.sdk.operators import (
    BashOperator,
    BranchPythonOperator,
    EmptyOperator,
    HttpOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from leoflow.sdk.params import Param
from leoflow.sdk.relations import chain, cross_downstream
from leoflow.sdk.runtime import get_current_context
from leoflow.sdk.secrets_env import BaseHook, Connection, Variable
from leoflow.sdk.sensors import (
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
)
from leoflow.sdk.setup_teardown import setup, teardown
from leoflow.sdk.taskgroup import TaskGroup, task_group
from leoflow.sdk.timetables import (
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
)
from leoflow.sdk.triggers import (
    DateTimeTrigger,
    ExternalTaskTrigger,
    FileTrigger,
    HttpTrigger,
    TimeDeltaTrigger,
    defer,
)
from leoflow.sdk.xcom_arg import XComArg

__all__ = [
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "BashOperator",
    "BashSensor",
    "BranchPythonOperator",
    "Connection",
    "CronDataIntervalTimetable",
    "CronTriggerTimetable",
    "DagDefinitionError",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "DateTimeTrigger",
    "DeltaDataIntervalTimetable",
    "DeltaTriggerTimetable",
    "DuplicateTaskIdFound",
    "EmptyOperator",
    "ExternalTaskSensor",
    "ExternalTaskTrigger",
    "FileSensor",
    "FileTrigger",
    "HttpOperator",
    "HttpSensor",
    "HttpTrigger",
    "Label",
    "Param",
    "PokeReturnValue",
    "PythonOperator",
    "PythonSensor",
    "ShortCircuitOperator",
    "TaskDeferralTimeout",
    "TaskDeferred",
    "TaskGroup",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeDeltaTrigger",
    "TimeSensor",
    "TimeSensorAsync",
    "Variable",
    "XComArg",
    "chain",
    "cross_downstream",
    "dag",
    "defer",
    "get_current_context",
    "setup",
    "task",
    "task_group",
    "teardown",
]
