"""Let DAG files written for Airflow import Leoflow instead, unchanged.

``install()`` adds an import hook that answers ``import airflow...`` for the usual paths of
Airflow 2 and 3 (``airflow.sdk``, ``airflow.decorators``, ``airflow.operators.bash``,
``airflow.providers.standard.operators.python``, ...) with Leoflow's SDK objects. The
compiler and the task runner install it only when the real Airflow is not importable, and
nothing named ``airflow`` is ever written into site-packages.

Features that live in their own SDK module (a family of operators, say) add their import
paths in a module of ``leoflow.sdk.airflow_paths``, as ``AIRFLOW_MODULES`` (``{module name:
{name: object}}``); they are merged into ``MODULES`` when the hook is installed.

Any other ``airflow.*`` module fails with one line naming it: either it belongs to Airflow's
server (``airflow.configuration``, ``airflow.models.taskinstance``, plugins...) and no DAG
can import it anywhere but inside Airflow itself, or it is part of the authoring surface that
Leoflow does not provide yet (``docs/airflow-compat.md`` lists what it does).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import pkgutil
import sys
import types
from collections.abc import Sequence
from typing import Any

import leoflow.sdk as sdk
from leoflow.sdk import (
    errors,
    operators,
    relations,
    secrets_env,
    sensors,
    timetables,
    timezone,
    triggers,
)

_DAG = {"DAG": sdk.DAG, "dag": sdk.dag}
_TASK = {"task": sdk.task, "task_group": sdk.task_group}
_BASE = {"BaseOperator": sdk.BaseOperator, "chain": sdk.chain,
         "cross_downstream": relations.cross_downstream}
_PYTHON = {"PythonOperator": operators.PythonOperator,
           "BranchPythonOperator": operators.BranchPythonOperator,
           "ShortCircuitOperator": operators.ShortCircuitOperator,
           "get_current_context": sdk.get_current_context}
_BASH = {"BashOperator": operators.BashOperator}
_EMPTY = {"EmptyOperator": operators.EmptyOperator}
_HTTP = {"HttpOperator": operators.HttpOperator,
         "SimpleHttpOperator": operators.SimpleHttpOperator}
_EXC = {"AirflowException": errors.AirflowException,
        "AirflowSkipException": errors.AirflowSkipException,
        "AirflowFailException": errors.AirflowFailException,
        "DuplicateTaskIdFound": errors.DuplicateTaskIdFound,
        "AirflowSensorTimeout": errors.AirflowSensorTimeout,
        "AirflowRescheduleException": errors.AirflowRescheduleException,
        "TaskDeferred": errors.TaskDeferred,
        "TaskDeferralTimeout": errors.TaskDeferralTimeout}
_SENSOR_BASE = {"BaseSensorOperator": sensors.BaseSensorOperator,
                "PokeReturnValue": sensors.PokeReturnValue}
_TIME_DELTA = {"TimeDeltaSensor": sensors.TimeDeltaSensor,
               "TimeDeltaSensorAsync": sensors.TimeDeltaSensorAsync,
               "WaitSensor": sensors.TimeDeltaSensor}
_DATE_TIME = {"DateTimeSensor": sensors.DateTimeSensor,
              "DateTimeSensorAsync": sensors.DateTimeSensorAsync}
_TIME = {"TimeSensor": sensors.TimeSensor, "TimeSensorAsync": sensors.TimeSensorAsync}
_FILE = {"FileSensor": sensors.AirflowFileSensor}  # fs_conn_id="fs_default", as Airflow
_PYTHON_SENSOR = {"PythonSensor": sensors.PythonSensor, **_SENSOR_BASE}
_BASH_SENSOR = {"BashSensor": sensors.BashSensor}
_EXTERNAL = {"ExternalTaskSensor": sensors.ExternalTaskSensor}
_HTTP_SENSOR = {"HttpSensor": sensors.HttpSensor}
_TEMPORAL = {"DateTimeTrigger": triggers.DateTimeTrigger,
             "TimeDeltaTrigger": triggers.TimeDeltaTrigger}
_FILE_TRIGGER = {"FileTrigger": triggers.FileTrigger}
_HTTP_TRIGGER = {"HttpSensorTrigger": triggers.HttpSensorTrigger,
                 "HttpTrigger": triggers.HttpTrigger}
_TRIGGER_BASE = {"BaseTrigger": triggers.BaseTrigger}
_VARIABLE = {"Variable": secrets_env.Variable}
_CONNECTION = {"Connection": secrets_env.Connection}
_HOOK = {"BaseHook": secrets_env.BaseHook}
_TRIGGER_RULE: dict[str, Any] = {}  # filled below with a TriggerRule class
_TIMETABLES_TRIGGER = {"CronTriggerTimetable": timetables.CronTriggerTimetable,
                       "DeltaTriggerTimetable": timetables.DeltaTriggerTimetable}
_TIMETABLES_INTERVAL = {"CronDataIntervalTimetable": timetables.CronDataIntervalTimetable,
                        "DeltaDataIntervalTimetable": timetables.DeltaDataIntervalTimetable}


class TriggerRule(str):
    """``TriggerRule.ALL_DONE`` and friends, as plain strings."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    ALWAYS = "always"
    ALL_SKIPPED = "all_skipped"


_TRIGGER_RULE["TriggerRule"] = TriggerRule

# Everything ``from airflow.sdk import ...`` offers in Airflow 3 that Leoflow supports.
_SDK = {**_DAG, **_TASK, **_BASE, **_EXC, "Param": sdk.Param, "Label": sdk.Label,
        "TaskGroup": sdk.TaskGroup, "XComArg": sdk.XComArg, **_SENSOR_BASE,
        "get_current_context": sdk.get_current_context, "TriggerRule": TriggerRule,
        **_TIMETABLES_TRIGGER, **_TIMETABLES_INTERVAL, **_VARIABLE, **_CONNECTION,
        "BaseHook": secrets_env.BaseHook}

_TIMEZONE = {name: getattr(timezone, name) for name in dir(timezone)
             if not name.startswith("_") and name not in {"annotations", "dt", "Any",
                                                           "ZoneInfo"}}
# ``airflow.providers.common.compat.sdk``: the names providers (and Airflow's own examples)
# import to work on Airflow 2 and 3 alike.
_COMPAT_SDK = {**_SDK, **_EXC, **_PYTHON, **_BASH, **_EMPTY, "timezone": timezone,
               "Context": dict, "XCOM_RETURN_KEY": "return_value"}

MODULES: dict[str, dict[str, Any]] = {
    "airflow": {**_DAG, "__version__": "3.0.0+leoflow"},
    "airflow.sdk": {**_SDK, "timezone": timezone, "Context": dict},
    "airflow.sdk.timezone": _TIMEZONE,
    "airflow.sdk.exceptions": _EXC,
    "airflow.sdk.definitions.context": {"Context": dict,
                                        "get_current_context": sdk.get_current_context},
    "airflow.utils.timezone": _TIMEZONE,
    "airflow.utils.context": {"Context": dict},
    "airflow.providers.common": {},
    "airflow.providers.common.compat": {},
    "airflow.providers.common.compat.sdk": _COMPAT_SDK,
    "airflow.sdk.definitions": {},
    "airflow.sdk.definitions.dag": _DAG,
    "airflow.sdk.definitions.decorators": _TASK,
    "airflow.sdk.definitions.taskgroup": {"TaskGroup": sdk.TaskGroup},
    "airflow.sdk.definitions.param": {"Param": sdk.Param},
    "airflow.sdk.definitions.edges": {"Label": sdk.Label},
    "airflow.sdk.bases": {},
    "airflow.sdk.bases.operator": _BASE,
    "airflow.decorators": {**_TASK, "dag": sdk.dag},
    "airflow.models": {**_DAG, "BaseOperator": sdk.BaseOperator, "Param": sdk.Param,
                       **_VARIABLE, **_CONNECTION},
    "airflow.models.variable": _VARIABLE,
    "airflow.models.connection": _CONNECTION,
    "airflow.models.dag": _DAG,
    "airflow.models.baseoperator": _BASE,
    "airflow.models.param": {"Param": sdk.Param},
    "airflow.operators": {},
    "airflow.operators.bash": _BASH,
    "airflow.operators.bash_operator": _BASH,
    "airflow.operators.python": _PYTHON,
    "airflow.operators.python_operator": _PYTHON,
    "airflow.operators.empty": _EMPTY,
    "airflow.operators.dummy": {"DummyOperator": operators.DummyOperator},
    "airflow.operators.dummy_operator": {"DummyOperator": operators.DummyOperator},
    "airflow.providers": {},
    "airflow.providers.standard": {},
    "airflow.providers.standard.operators": {},
    "airflow.providers.standard.operators.bash": _BASH,
    "airflow.providers.standard.operators.python": _PYTHON,
    "airflow.providers.standard.operators.empty": _EMPTY,
    "airflow.providers.http": {},
    "airflow.providers.http.operators": {},
    "airflow.providers.http.operators.http": _HTTP,
    "airflow.exceptions": {**_EXC,
                           "AirflowNotFoundException": secrets_env.AirflowNotFoundException},
    "airflow.hooks": {},
    "airflow.hooks.base": _HOOK,
    "airflow.utils": {},
    "airflow.utils.trigger_rule": _TRIGGER_RULE,
    "airflow.utils.task_group": {"TaskGroup": sdk.TaskGroup},
    "airflow.utils.edgemodifier": {"Label": sdk.Label},
    "airflow.utils.helpers": {"chain": sdk.chain,
                              "cross_downstream": relations.cross_downstream},
    "airflow.sdk.bases.sensor": _SENSOR_BASE,
    "airflow.sensors": {},
    "airflow.sensors.base": _SENSOR_BASE,
    "airflow.sensors.base_sensor_operator": _SENSOR_BASE,
    "airflow.sensors.time_delta": _TIME_DELTA,
    "airflow.sensors.time_delta_sensor": _TIME_DELTA,
    "airflow.sensors.date_time": _DATE_TIME,
    "airflow.sensors.date_time_sensor": _DATE_TIME,
    "airflow.sensors.time_sensor": _TIME,
    "airflow.sensors.filesystem": _FILE,
    "airflow.sensors.python": _PYTHON_SENSOR,
    "airflow.sensors.bash": _BASH_SENSOR,
    "airflow.sensors.external_task": _EXTERNAL,
    "airflow.sensors.external_task_sensor": _EXTERNAL,
    "airflow.providers.standard.sensors": {},
    "airflow.providers.standard.sensors.time_delta": _TIME_DELTA,
    "airflow.providers.standard.sensors.date_time": _DATE_TIME,
    "airflow.providers.standard.sensors.time": _TIME,
    "airflow.providers.standard.sensors.filesystem": _FILE,
    "airflow.providers.standard.sensors.python": _PYTHON_SENSOR,
    "airflow.providers.standard.sensors.bash": _BASH_SENSOR,
    "airflow.providers.standard.sensors.external_task": _EXTERNAL,
    "airflow.providers.http.sensors": {},
    "airflow.providers.http.sensors.http": _HTTP_SENSOR,
    "airflow.providers.http.triggers": {},
    "airflow.providers.http.triggers.http": _HTTP_TRIGGER,
    "airflow.triggers": {},
    "airflow.triggers.base": _TRIGGER_BASE,
    "airflow.triggers.temporal": _TEMPORAL,
    "airflow.triggers.file": _FILE_TRIGGER,
    "airflow.providers.standard.triggers": {},
    "airflow.providers.standard.triggers.temporal": _TEMPORAL,
    "airflow.providers.standard.triggers.file": _FILE_TRIGGER,
    "airflow.timetables": {},
    "airflow.timetables.trigger": _TIMETABLES_TRIGGER,
    "airflow.timetables.interval": _TIMETABLES_INTERVAL,
}


# ``airflow.*`` packages that make up the DAG authoring surface: a module under them that
# the shim does not answer is "not provided yet"; any other is one of Airflow's internals.
AUTHORING_PACKAGES = ("airflow.sdk", "airflow.decorators", "airflow.operators",
                      "airflow.sensors", "airflow.providers.standard",
                      "airflow.providers.common.compat", "airflow.triggers")

_extensions_loaded = False


def _load_extensions() -> None:
    """Merge ``AIRFLOW_MODULES`` of every ``leoflow.sdk.airflow_paths`` module (once)."""
    global _extensions_loaded
    if _extensions_loaded:
        return
    _extensions_loaded = True
    from leoflow.sdk import airflow_paths

    for info in sorted(pkgutil.iter_modules(airflow_paths.__path__), key=lambda i: i.name):
        extension = importlib.import_module(f"{airflow_paths.__name__}.{info.name}")
        for name, names in extension.AIRFLOW_MODULES.items():
            MODULES.setdefault(name, {}).update(names)


class AirflowModuleUnavailable(ModuleNotFoundError):
    """An ``airflow.*`` module Leoflow does not provide; the message is one line."""

    def __init__(self, name: str) -> None:
        self.internal = not any(name == p or name.startswith(p + ".")
                                for p in AUTHORING_PACKAGES)
        if self.internal:
            message = (f"{name} belongs to Airflow's server, not to its DAG authoring surface "
                       "(airflow.sdk); a DAG file cannot import it on Leoflow")
        else:
            message = (f"{name} is not provided by Leoflow yet (docs/airflow-compat.md lists "
                       "the Airflow modules and operators it provides)")
        super().__init__(message, name=name)


class _ShimFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of the module names in ``MODULES``; any other ``airflow.*`` name
    fails with ``AirflowModuleUnavailable``; other names are left alone."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            if fullname.startswith("airflow."):
                raise AirflowModuleUnavailable(fullname)
            return None
        is_package = any(name.startswith(fullname + ".") for name in MODULES)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=is_package)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name, f"Leoflow's stand-in for {spec.name}")
        module.__dict__.update(MODULES[spec.name])
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


_finder = _ShimFinder()


def real_airflow_available() -> bool:
    """True when a real Airflow is importable (then the shim must stay out of the way)."""
    if _finder in sys.meta_path:
        return False
    return importlib.util.find_spec("airflow") is not None


def install() -> bool:
    """Install the import hook unless a real Airflow is importable. Returns whether it did."""
    if _finder in sys.meta_path:
        return True
    if real_airflow_available():
        return False
    _load_extensions()
    sys.meta_path.append(_finder)
    return True


def uninstall() -> None:
    """Remove the hook and forget the stand-in modules (used by tests)."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in list(sys.modules):
        if name in MODULES:
            del sys.modules[name]
