"""TaskFlow: ``@task``, ``@task.bash``, ``@task.branch``, ``@task.short_circuit``, ``@task.sensor``.

Calling a decorated function inside a DAG does not run it: it creates a task (with a unique
id: ``trial``, ``trial__1``, ...) and returns an ``XComArg`` standing for its result.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from leoflow.sdk.baseoperator import BaseOperator, check_expandable
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.location import user_frame_location
from leoflow.sdk.operators import (
    BashDecoratedOperator,
    BranchDecoratedOperator,
    DecoratedOperator,
    PythonDecoratedOperator,
    ShortCircuitDecoratedOperator,
    set_output_processor,
)
from leoflow.sdk.sensors import DecoratedSensorOperator
from leoflow.sdk.venv_operators import (
    BranchExternalPythonDecoratedOperator,
    BranchVirtualenvDecoratedOperator,
    ExternalPythonDecoratedOperator,
    VirtualenvDecoratedOperator,
)
from leoflow.sdk.xcom_arg import XComArg

# Names a task function may declare to receive run-time context (Airflow's context keys);
# they need no argument at the call site.
CONTEXT_KEYS = frozenset({
    "conf", "dag", "dag_run", "data_interval_end", "data_interval_start", "ds",
    "ds_nodash", "inlets", "logical_date", "macros", "map_index_template", "outlets",
    "params", "prev_data_interval_start_success", "prev_data_interval_end_success",
    "prev_start_date_success", "prev_end_date_success", "run_id", "task", "task_instance",
    "task_instance_key_str", "test_mode", "templates_dict", "ti", "ts", "ts_nodash",
    "ts_nodash_with_tz", "var", "conn", "triggering_asset_events", "try_number",
    "expanded_ti_count", "outlet_events", "inlet_events", "run_after", "task_state_store",
})

# Settings of a decorator variant that belong to the operator, not to BaseOperator.
_OPTIONS: dict[str, dict[str, Any]] = {
    "bash": {"env": None, "append_env": False, "output_encoding": "utf-8",
             "skip_on_exit_code": 99, "cwd": None, "output_processor": None},
    "short_circuit": {"ignore_downstream_trigger_rules": True},
}


def infers_multiple_outputs(func: Callable[..., Any]) -> bool:
    """Airflow 3 pushes each key of the result separately when the function says ``-> dict``."""
    annotation = getattr(func, "__annotations__", {}).get("return")
    if annotation is None:
        return False
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        return text in {"dict", "Dict", "typing.Dict"} or text.startswith(
            ("dict[", "Dict[", "typing.Dict["))
    return annotation in (dict, typing.Dict) or typing.get_origin(annotation) is dict  # noqa: UP006


def _holds_result(value: Any) -> bool:
    """Whether an upstream task's result is somewhere inside ``value``."""
    if isinstance(value, XComArg):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_result(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_result(v) for v in value.values())
    return False


class TaskDecorator:
    """A function turned into a task factory by ``@task`` (or a variant)."""

    def __init__(self, function: Callable[..., Any], operator_class: type[DecoratedOperator],
                 kwargs: dict[str, Any]) -> None:
        self.function = function
        self.operator_class = operator_class
        self.kwargs = kwargs
        functools.update_wrapper(self, function)

    def _make_operator(self) -> BaseOperator:
        kwargs = dict(self.kwargs)
        task_id = kwargs.pop("task_id", None) or self.function.__name__
        multiple_outputs = kwargs.pop("multiple_outputs", None)
        defaults = _OPTIONS.get(self.operator_class.operator_kind, {})
        options = {name: kwargs.pop(name, default) for name, default in defaults.items()}
        if self.operator_class.operator_kind == "bash":
            code = options["skip_on_exit_code"]
            options["skip_on_exit_code"] = [code] if isinstance(code, int) else list(code or [])
        op = self.operator_class(task_id=task_id, **kwargs)
        op.callable = self.function
        op.multiple_outputs = (bool(multiple_outputs) if multiple_outputs is not None
                               else infers_multiple_outputs(self.function))
        op.options = options
        if self.operator_class.operator_kind == "bash":  # a callable: not an option value
            set_output_processor(op, options.pop("output_processor"))
        return op

    def _check_call(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                    mapped: tuple[str, ...] = ()) -> None:
        try:
            signature = inspect.signature(self.function)
        except (TypeError, ValueError):  # builtins and C functions: nothing to check
            return
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            file, line = user_frame_location()
            raise DagDefinitionError(f"task {self.function.__name__!r}: {exc}",
                                     file=file, line=line) from None
        missing = [
            name for name, p in signature.parameters.items()
            if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and name not in bound.arguments and name not in CONTEXT_KEYS and name not in mapped
        ]
        if missing:
            file, line = user_frame_location()
            raise DagDefinitionError(
                f"task {self.function.__name__!r} is called without its argument(s) "
                f"{', '.join(repr(m) for m in missing)}", file=file, line=line)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        self._check_call(args, kwargs)
        op = self._make_operator()
        op.set_inputs(args, kwargs)
        env = op.options.get("env") if op.operator_kind == "bash" else None
        if isinstance(env, dict) and _holds_result(env):  # upstream results in the env
            from leoflow.sdk.bash_output import BASH_ENV_INPUT

            op.options["env"] = None
            op.set_inputs(op.op_args, {**op.op_kwargs, BASH_ENV_INPUT: env})
        return XComArg(op)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """A copy with other task settings: ``trial.override(task_id="t2", retries=3)``."""
        return TaskDecorator(self.function, self.operator_class, {**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> DecoratedPartial:
        return DecoratedPartial(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        return DecoratedPartial(self, {}).expand(**mapped)

    def expand_kwargs(self, value: Any) -> XComArg:
        return DecoratedPartial(self, {}).expand_kwargs(value)


class DecoratedPartial:
    """``task.partial(a=1)``: the fixed arguments of a mapped task."""

    def __init__(self, decorator: TaskDecorator, kwargs: dict[str, Any]) -> None:
        self.decorator = decorator
        self.kwargs = kwargs

    def expand(self, **mapped: Any) -> XComArg:
        if not mapped:
            file, line = user_frame_location()
            raise DagDefinitionError("expand() needs at least one argument to map over",
                                     file=file, line=line)
        for name, value in mapped.items():
            check_expandable(name, value)
        self.decorator._check_call((), {**self.kwargs, **dict.fromkeys(mapped)})
        op = self.decorator._make_operator()
        op.set_inputs((), self.kwargs)
        op.set_expansion("kwargs", dict(mapped))
        return XComArg(op)

    def expand_kwargs(self, value: Any) -> XComArg:
        check_expandable("expand_kwargs", value, items_are_dicts=True)
        op = self.decorator._make_operator()
        op.set_inputs((), self.kwargs)
        op.set_expansion("list_of_kwargs", value)
        return XComArg(op)


def _factory(operator_class: type[DecoratedOperator]) -> Callable[..., Any]:
    def decorate(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        if python_callable is not None:
            if not callable(python_callable):
                raise TypeError(f"@task expects a function, got {python_callable!r}")
            return TaskDecorator(python_callable, operator_class, kwargs)
        return lambda func: TaskDecorator(func, operator_class, kwargs)

    return decorate


class _TaskNamespace:
    """``task`` itself: ``@task``, ``@task(retries=2)``, ``@task.bash``, ``@task.sensor``..."""

    python = staticmethod(_factory(PythonDecoratedOperator))
    bash = staticmethod(_factory(BashDecoratedOperator))
    branch = staticmethod(_factory(BranchDecoratedOperator))
    short_circuit = staticmethod(_factory(ShortCircuitDecoratedOperator))
    # the function is the poke: it returns a bool or a PokeReturnValue
    sensor = staticmethod(_factory(DecoratedSensorOperator))  # type: ignore[arg-type]
    # the function's source runs in another interpreter (leoflow.sdk.venv_operators)
    virtualenv = staticmethod(_factory(VirtualenvDecoratedOperator))
    branch_virtualenv = staticmethod(_factory(BranchVirtualenvDecoratedOperator))
    external_python = staticmethod(_factory(ExternalPythonDecoratedOperator))
    branch_external_python = staticmethod(_factory(BranchExternalPythonDecoratedOperator))

    def __call__(self, python_callable: Callable[..., Any] | None = None,
                 **kwargs: Any) -> Any:
        return self.python(python_callable, **kwargs)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"@task.{name} is not supported by Leoflow; supported: @task, @task.python, "
            "@task.bash, @task.branch, @task.short_circuit, @task.sensor, @task.virtualenv, "
            "@task.branch_virtualenv, @task.external_python, @task.branch_external_python")


task = _TaskNamespace()
