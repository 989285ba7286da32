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
    AirflowSkipException,
    DagDefinitionError,
    DuplicateTaskIdFound,
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
from leoflow.sdk.taskgroup import TaskGroup, task_group
from leoflow.sdk.timetables import (
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
)
from leoflow.sdk.xcom_arg import XComArg

__all__ = [
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BashOperator",
    "BranchPythonOperator",
    "Connection",
    "CronDataIntervalTimetable",
    "CronTriggerTimetable",
    "DagDefinitionError",
    "DeltaDataIntervalTimetable",
    "DeltaTriggerTimetable",
    "DuplicateTaskIdFound",
    "EmptyOperator",
    "HttpOperator",
    "Label",
    "Param",
    "PythonOperator",
    "ShortCircuitOperator",
    "TaskGroup",
    "Variable",
    "XComArg",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "task",
    "task_group",
]
