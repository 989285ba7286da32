"""Sensors whose poke is the user's code: a Python callable (``PythonSensor``,
``@task.sensor``) or a bash command (``BashSensor``).

They always run in the task's process; with ``deferrable=True`` they poke in reschedule mode
(docs/sensors.md). Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from leoflow.sdk.baseoperator import is_building_mapped
from leoflow.sdk.errors import AirflowException, DagDefinitionError
from leoflow.sdk.sensors.base import BaseSensorOperator, PokeReturnValue, call_kwargs


class PythonSensor(BaseSensorOperator):
    """Calls ``python_callable(*op_args, **op_kwargs)`` until it returns a truthy value (or a
    ``PokeReturnValue`` with ``is_done``)."""

    mappable_fields: ClassVar[tuple[str, ...]] = ("op_args", "op_kwargs")

    def __init__(self, task_id: str, *, python_callable: Callable[..., Any] | None = None,
                 op_args: Sequence[Any] | None = None, op_kwargs: dict[str, Any] | None = None,
                 templates_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"{type(self).__name__}({task_id!r}): python_callable must be callable, got "
                f"{python_callable!r}", file=self.fileloc, line=self.line)
        self.python_callable = python_callable
        self.callable = python_callable
        self.templates_dict = templates_dict
        self.set_inputs(list(op_args or []), dict(op_kwargs or {}))

    def apply_inputs(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        self.op_args = list(args)
        self.op_kwargs = dict(kwargs)

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        kwargs = call_kwargs(self.python_callable, self.op_args, self.op_kwargs, context)
        return self.python_callable(*self.op_args, **kwargs)


class DecoratedSensorOperator(PythonSensor):
    """``@task.sensor``: the decorated function is the poke; ids are de-duplicated per call."""

    dedupe_task_ids: ClassVar[bool] = True
    mappable_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, task_id: str, **kwargs: Any) -> None:
        # the decorator sets the callable after construction
        BaseSensorOperator.__init__(self, task_id=task_id, **kwargs)

    @property
    def python_callable(self) -> Callable[..., Any]:
        return self.callable

    @python_callable.setter
    def python_callable(self, value: Callable[..., Any]) -> None:
        self.callable = value


class BashSensor(BaseSensorOperator):
    """Runs ``bash_command`` at each poke: exit code 0 means done (Airflow's rule)."""

    mappable_fields = ("bash_command", "env")

    def __init__(self, task_id: str, *, bash_command: str | None = None,
                 env: dict[str, str] | None = None, output_encoding: str = "utf-8",
                 retry_exit_code: int | None = None, cwd: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if bash_command is None and not is_building_mapped():
            raise DagDefinitionError(f"BashSensor({task_id!r}) needs bash_command",
                                     file=self.fileloc, line=self.line)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code
        self.cwd = cwd
        inputs: dict[str, Any] = {}
        if bash_command is not None:
            inputs["bash_command"] = bash_command
        if env is not None:
            inputs["env"] = env
        self.set_inputs(kwargs=inputs)

    def poke(self, context: dict[str, Any]) -> bool:
        import subprocess

        env = None if self.env is None else {**os.environ, **self.env}
        print(f"Running command: {self.bash_command}")
        completed = subprocess.run(["bash", "-c", str(self.bash_command)], env=env,
                                   cwd=self.cwd, check=False)
        code = completed.returncode
        print(f"Command exited with return code {code}")
        if self.retry_exit_code is not None and code == self.retry_exit_code:
            return False
        if self.retry_exit_code is not None and code != 0:
            raise AirflowException(f"BashSensor command failed with exit code {code}")
        return code == 0
