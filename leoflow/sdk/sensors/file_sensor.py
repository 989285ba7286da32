"""The file sensor: wait for a file (or a glob's match, or a non-empty folder) to exist.

Airflow's ``FileSensor`` and its ``fs_conn_id`` connection: poked in the task's process, or,
deferrable, checked by the control plane through a ``file`` trigger. Standard library only.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from leoflow.sdk.baseoperator import is_building_mapped
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.sensors.base import BaseSensorOperator
from leoflow.sdk.triggers import BaseTrigger, FileTrigger
from leoflow.sdk.xcom_arg import XComArg


class FileSensor(BaseSensorOperator):
    """Waits for a file (or any file matching a glob) to exist; a folder must not be empty.

    With ``fs_conn_id``, the path is that connection's ``path`` extra joined with
    ``filepath`` and a connection that is not defined fails the task
    (``AirflowNotFoundException``), as in Airflow. Leoflow's own ``FileSensor`` has no
    connection by default (the path is used as given); the one DAG files import from
    Airflow's paths (``AirflowFileSensor`` below) defaults to ``fs_default`` as Airflow's
    does, and a fresh Airflow 3 defines none: define it (``AIRFLOW_CONN_FS_DEFAULT:
    '{"conn_type": "fs"}'`` in leoflow.yaml's ``env``, or as a connection of the DAG's
    tenant). A deferred FileSensor is checked by the control plane, which resolves the
    connection when the wait starts.
    """

    runs_user_code = False
    mappable_fields = ("filepath",)

    def __init__(self, task_id: str, *, filepath: str | None = None,
                 fs_conn_id: str | None = None, recursive: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if filepath is None:
            if not is_building_mapped():
                raise DagDefinitionError(f"FileSensor({task_id!r}) needs filepath",
                                         file=self.fileloc, line=self.line)
        elif not isinstance(filepath, (str, XComArg)) or filepath == "":
            raise DagDefinitionError(
                f"FileSensor({task_id!r}): filepath must be a non-empty string, got "
                f"{filepath!r}", file=self.fileloc, line=self.line)
        if fs_conn_id is not None and (not isinstance(fs_conn_id, str) or not fs_conn_id):
            raise DagDefinitionError(
                f"FileSensor({task_id!r}): fs_conn_id must be a connection id, got "
                f"{fs_conn_id!r}", file=self.fileloc, line=self.line)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = bool(recursive)
        if filepath is not None:
            self.set_inputs(kwargs={"filepath": filepath})

    def start_from_trigger(self) -> bool:
        return self.deferrable

    def trigger_fields(self) -> tuple[str, ...]:
        return ("filepath",)

    def full_path(self, filepath: str) -> str:
        """Airflow's ``FileSensor.path``: the connection's base path joined with filepath
        (``filepath`` itself without a connection)."""
        from leoflow.sdk.secrets_env import get_connection

        if self.fs_conn_id is None:
            return filepath
        base = get_connection(self.fs_conn_id).extra_dejson.get("path", "") or ""
        return os.path.join(str(base), filepath)

    def static_trigger(self) -> BaseTrigger:
        # the control plane resolves fs_conn_id when the wait starts
        return FileTrigger(filepath=self.op_kwargs["filepath"], recursive=self.recursive,
                           poke_interval=self.poke_interval, fs_conn_id=self.fs_conn_id)

    def runtime_trigger(self, context: dict[str, Any]) -> BaseTrigger | None:
        if not self.deferrable:
            return None
        return FileTrigger(filepath=self.full_path(str(self.filepath)),
                           recursive=self.recursive, poke_interval=self.poke_interval)

    def poke(self, context: dict[str, Any]) -> bool:
        path = self.full_path(str(self.filepath))
        print(f"Poking for file {path}")
        for match in glob.glob(path, recursive=self.recursive):
            if os.path.isfile(match):
                print(f"Found File {match}")
                return True
            for _, _, files in os.walk(match):
                if files:
                    return True
        return False


class AirflowFileSensor(FileSensor):
    """``FileSensor`` as DAG files import it from Airflow's paths: ``fs_conn_id`` defaults
    to ``fs_default``, which must be defined, as in Airflow. (Its class name in dag.json is
    ``FileSensor``.)"""

    def __init__(self, task_id: str, *, fs_conn_id: str = "fs_default", **kwargs: Any
                 ) -> None:
        super().__init__(task_id=task_id, fs_conn_id=fs_conn_id, **kwargs)


AirflowFileSensor.__name__ = AirflowFileSensor.__qualname__ = "FileSensor"
