"""The classic operators, with Airflow's names and arguments.

Each stores its *mappable* fields as inputs (they may hold upstream results or be mapped
with ``.expand``) and its static settings as options; the task runner executes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from leoflow.sdk.baseoperator import BaseOperator, is_building_mapped
from leoflow.sdk.errors import DagDefinitionError


def _require(op: BaseOperator, name: str, value: Any) -> None:
    if value is None and not is_building_mapped():
        raise DagDefinitionError(f"{type(op).__name__}({op.task_id!r}) needs {name}",
                                 file=op.fileloc, line=op.line)


class EmptyOperator(BaseOperator):
    """Does nothing; useful as a join point or a placeholder. Never starts a process."""

    operator_kind = "empty"


DummyOperator = EmptyOperator


class BashOperator(BaseOperator):
    """Runs ``bash_command`` with bash; a non-zero exit fails the task.

    ``bash_command`` and ``env`` are Jinja-templated at run time (``{{ ds }}``,
    ``{{ params.x }}``, ``{{ ti.xcom_pull(task_ids='t') }}``); the last line of stdout is
    pushed as the task's XCom, after ``output_processor`` when one is given (e.g.
    ``json.loads``); with ``multiple_outputs=True`` each key of that dict is pushed as its
    own XCom too. ``skip_on_exit_code`` (99 by default) ends it as skipped.
    """

    operator_kind = "bash"
    mappable_fields = ("bash_command", "env", "cwd")
    output_processor: Callable[[str], Any] | None = None

    def __init__(self, task_id: str, bash_command: str | None = None,
                 env: dict[str, str] | None = None, append_env: bool = False,
                 output_encoding: str = "utf-8", skip_on_exit_code: int | Sequence[int] = 99,
                 cwd: str | None = None,
                 output_processor: Callable[[str], Any] | None = None,
                 multiple_outputs: bool = False, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        _require(self, "bash_command", bash_command)
        inputs: dict[str, Any] = {"bash_command": bash_command}
        if env is not None:
            inputs["env"] = env
        if cwd is not None:
            inputs["cwd"] = cwd
        self.set_inputs(kwargs=inputs)
        codes = [skip_on_exit_code] if isinstance(skip_on_exit_code, int) else list(
            skip_on_exit_code or [])
        self.options = {"append_env": bool(append_env), "output_encoding": output_encoding,
                        "skip_on_exit_code": codes}
        self.multiple_outputs = bool(multiple_outputs)
        set_output_processor(self, output_processor)


def set_output_processor(op: BaseOperator, processor: Any) -> None:
    """Give a bash task Airflow's ``output_processor`` (the default, None, pushes the line).

    The processor is the user's code, so it runs in the DAG's interpreter once bash has
    ended (a second, short process of the same try); dag.json only records that there is
    one (the option ``output_processor``), the task runner finds the callable on the task.
    """
    op.output_processor = processor  # type: ignore[attr-defined]
    if processor is None:
        return
    if not callable(processor):
        raise DagDefinitionError(
            f"{type(op).__name__}({op.task_id!r}): output_processor must be a callable taking "
            f"the last line of stdout, got {processor!r}", file=op.fileloc, line=op.line)
    op.options["output_processor"] = True


class PythonOperator(BaseOperator):
    """Calls ``python_callable(*op_args, **op_kwargs)``; the return value becomes XCom."""

    operator_kind = "python"
    mappable_fields = ("op_args", "op_kwargs")

    def __init__(self, task_id: str, python_callable: Callable[..., Any] | None = None,
                 op_args: Sequence[Any] | None = None, op_kwargs: dict[str, Any] | None = None,
                 multiple_outputs: bool = False, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"{type(self).__name__}({task_id!r}) needs a callable python_callable, got "
                f"{python_callable!r}", file=self.fileloc, line=self.line)
        self.callable = python_callable
        self.multiple_outputs = bool(multiple_outputs)
        self.set_inputs(list(op_args or []), dict(op_kwargs or {}))


class BranchPythonOperator(PythonOperator):
    """Its callable returns the task id (or ids) to follow; other direct downstreams skip."""

    operator_kind = "branch"


class ShortCircuitOperator(PythonOperator):
    """A falsy result skips every downstream task (all of them by default, as in Airflow)."""

    operator_kind = "short_circuit"

    def __init__(self, task_id: str, python_callable: Callable[..., Any] | None = None,
                 ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, python_callable=python_callable, **kwargs)
        self.options = {"ignore_downstream_trigger_rules": bool(ignore_downstream_trigger_rules)}


class HttpOperator(BaseOperator):
    """Sends one HTTP request and pushes the response body as XCom.

    Give a full ``url``, or ``http_conn_id`` + ``endpoint`` as in Airflow's provider. The task
    fails unless the status is in ``expected_status`` (200 by default). A JSON response is
    pushed as JSON, anything else as text.
    """

    operator_kind = "http"
    mappable_fields = ("url", "endpoint", "data", "headers")

    def __init__(self, task_id: str, method: str = "GET", url: str | None = None,
                 endpoint: str | None = None, http_conn_id: str | None = None,
                 headers: dict[str, str] | None = None, data: Any = None,
                 expected_status: int | Sequence[int] = 200, timeout: float = 30.0,
                 log_response: bool = False, response_check: Any = None,
                 response_filter: Any = None, extra_options: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if url is None and endpoint is None and not is_building_mapped():
            raise DagDefinitionError(
                f"HttpOperator({task_id!r}) needs a url (or http_conn_id and endpoint)",
                file=self.fileloc, line=self.line)
        if response_check is not None or response_filter is not None:
            raise DagDefinitionError(
                f"HttpOperator({task_id!r}): response_check and response_filter are not "
                "supported; check the response in a downstream @task",
                file=self.fileloc, line=self.line)
        method = str(method).upper()
        if method not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}:
            raise DagDefinitionError(f"HttpOperator({task_id!r}): unknown method {method!r}",
                                     file=self.fileloc, line=self.line)
        inputs: dict[str, Any] = {"headers": dict(headers or {}), "data": data}
        if url is not None:
            inputs["url"] = url
        if endpoint is not None:
            inputs["endpoint"] = endpoint
        self.set_inputs(kwargs=inputs)
        statuses = [expected_status] if isinstance(expected_status, int) else list(
            expected_status)
        self.options = {"method": method, "http_conn_id": http_conn_id,
                        "expected_status": statuses, "timeout": float(timeout),
                        "log_response": bool(log_response),
                        "extra_options": dict(extra_options or {})}


SimpleHttpOperator = HttpOperator


class DecoratedOperator(BaseOperator):
    """The operator behind ``@task`` and its variants; ids are de-duplicated per call."""

    dedupe_task_ids: ClassVar[bool] = True
    mappable_fields: ClassVar[tuple[str, ...]] = ()  # any parameter of the function


class PythonDecoratedOperator(DecoratedOperator):
    operator_kind = "python"


class BranchDecoratedOperator(DecoratedOperator):
    operator_kind = "branch"


class ShortCircuitDecoratedOperator(DecoratedOperator):
    operator_kind = "short_circuit"


class BashDecoratedOperator(DecoratedOperator):
    """``@task.bash``: the function returns the command to run."""

    operator_kind = "bash"
    output_processor: Callable[[str], Any] | None = None
