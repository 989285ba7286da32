"""One real Airflow task (``BaseOperator`` or ``MappedOperator``) as a dag.json task.

The fields and their meaning are the shim path's (``leoflow.sdk.serialize.serialize_task``);
the values are read from the operator Airflow built. The ``operator`` kind is what the
scheduler needs to know (``empty`` tasks are no-ops, ``branch`` and ``short_circuit``
decide what is skipped, ``sensor`` waits, ``http`` and ``bash`` name the work): it is read
from the operator's class hierarchy by the names of Airflow's own classes, as the shim
gives the same operators their kinds; any other operator class runs its ``execute`` in
the user process (``python``), as a custom operator does under the shim.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leoflow.sdk.real_airflow import RUNTIME
from leoflow.sdk.real_airflow.assets import task_asset_fields
from leoflow.sdk.real_airflow.values import encode, seconds

# Class names (anywhere in the operator's MRO) and the kind they give, first match wins.
_KINDS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"BaseSensorOperator", "DecoratedSensorOperator"}), "sensor"),
    (frozenset({"ApprovalOperator", "ShortCircuitOperator",
                "_ShortCircuitDecoratedOperator"}), "short_circuit"),
    (frozenset({"BranchMixIn", "BaseBranchOperator", "BranchPythonOperator",
                "_BranchPythonDecoratedOperator"}), "branch"),
    (frozenset({"BashOperator", "_BashDecoratedOperator"}), "bash"),
    (frozenset({"HttpOperator"}), "http"),
    (frozenset({"EmptyOperator"}), "empty"),
)
_PYTHON_FIELDS = ("op_args", "op_kwargs", "templates_dict")


def operator_class(task: Any) -> type:
    """The operator's class (a mapped operator's is the class it expands)."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    if isinstance(task, MappedOperator):
        cls: type = task.operator_class
        return cls
    return type(task)


def operator_kind(cls: type) -> str:
    names = {c.__name__ for c in cls.__mro__}
    for marks, kind in _KINDS:
        if names & marks:
            return kind
    if cls.__name__ == "BaseOperator":
        return "empty"
    return "python"


def mapped_group(task: Any) -> Any:
    """The innermost mapped task group ``task`` belongs to, or None."""
    from airflow.sdk.definitions.taskgroup import MappedTaskGroup

    group = task.task_group
    while group is not None:
        if isinstance(group, MappedTaskGroup):
            return group
        group = group.parent_group
    return None


def _expand_json(expand_input: Any, same_group: Callable[[Any], bool]) -> dict[str, Any]:
    from airflow.sdk.definitions._internal.expandinput import DictOfListsExpandInput

    if isinstance(expand_input, DictOfListsExpandInput):
        return {"mode": "kwargs", "order": list(expand_input.value),
                "values": {k: encode(v, same_group) for k, v in expand_input.value.items()}}
    return {"mode": "list_of_kwargs",
            "values": {"kwargs": encode(expand_input.value, same_group)}}


def _attribute(task: Any, name: str, default: Any = None) -> Any:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    if isinstance(task, MappedOperator) and name in task.partial_kwargs:
        return task.partial_kwargs[name]
    return getattr(task, name, default)


def _inputs(task: Any, kind: str, same_group: Callable[[Any], bool]) -> dict[str, Any]:
    """A Python task's ``op_args``/``op_kwargs``; another operator's templated fields
    that hold a value (what it is given to work on: ``bash_command``, ``sql``, ...)."""
    from airflow.sdk.definitions._internal.types import is_arg_set
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    callable_ = _attribute(task, "python_callable")
    expanded = set()
    if isinstance(task, MappedOperator):
        expanded = set(getattr(task._get_specified_expand_input(), "value", {}) or {})
    if callable_ is not None:
        args = _attribute(task, "op_args") or ()
        kwargs = _attribute(task, "op_kwargs") or {}
        return {"args": [encode(v, same_group) for v in args],
                "kwargs": {k: encode(v, same_group) for k, v in kwargs.items()
                           if k not in expanded}}
    kwargs = {}
    for name in getattr(task, "template_fields", ()) or ():
        if name in _PYTHON_FIELDS or name in expanded:
            continue
        value = _attribute(task, name)
        if value is None or value == "" or value == {} or value == [] or not is_arg_set(value):
            continue
        kwargs[name] = encode(value, same_group)
    return {"args": [], "kwargs": kwargs}


def _sensor(task: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "mode": str(_attribute(task, "mode", "poke")),
        "poke_interval": seconds(_attribute(task, "poke_interval", 60.0)) or 0.0,
        "timeout": seconds(_attribute(task, "timeout")),
        "soft_fail": bool(_attribute(task, "soft_fail", False)),
        "exponential_backoff": bool(_attribute(task, "exponential_backoff", False)),
    }
    spec["max_wait"] = seconds(_attribute(task, "max_wait"))
    # The real sensor runs its own code (poking, or deferring through the task runner):
    # Leoflow's control-plane triggers, which stand in for the shim's sensors, are not
    # substituted for Airflow's.
    spec["trigger"] = None
    return spec


def _doc(task: Any) -> str | None:
    for name in ("doc", "doc_md", "doc_rst", "doc_json", "doc_yaml"):
        value = _attribute(task, name)
        if value:
            return str(value)
    return None


def _scheduler_options(task: Any, kind: str) -> dict[str, Any]:
    """The operator settings the scheduler itself acts on (the runner reads the rest from the
    operator): a short-circuit's ``ignore_downstream_trigger_rules`` decides whether its
    falsy result skips every downstream task or only its direct ones."""
    if kind == "short_circuit":
        return {"ignore_downstream_trigger_rules": bool(
            _attribute(task, "ignore_downstream_trigger_rules", True))}
    return {}

def convert_task(task: Any, order: dict[str, int], line: int | None) -> dict[str, Any]:
    """dag.json's description of ``task`` (``order``: task ids in declaration order)."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    cls = operator_class(task)
    kind = operator_kind(cls)
    group = mapped_group(task)

    def same_group(upstream: Any) -> bool:
        return group is not None and mapped_group(upstream) is group

    expand: dict[str, Any] | None = None
    if isinstance(task, MappedOperator):
        expand = _expand_json(task._get_specified_expand_input(), same_group)
    elif group is not None:
        expand = _expand_json(group._expand_input, same_group)
    if expand is not None and group is not None:
        expand["group"] = group.group_id
    callable_ = _attribute(task, "python_callable")
    upstream = sorted(task.upstream_task_ids, key=lambda tid: (order.get(tid, len(order)), tid))
    trigger_rule = _attribute(task, "trigger_rule", "all_success")
    out: dict[str, Any] = {
        "task_id": task.task_id,
        "operator": kind,
        "operator_class": cls.__name__,
        "operator_module": cls.__module__,
        "runtime": RUNTIME,
        "upstream": upstream,
        "trigger_rule": str(getattr(trigger_rule, "value", trigger_rule)),
        "retries": int(_attribute(task, "retries", 0) or 0),
        "retry_delay": seconds(_attribute(task, "retry_delay")) or 0.0,
        "retry_exponential_backoff": bool(_attribute(task, "retry_exponential_backoff")),
        "max_retry_delay": seconds(_attribute(task, "max_retry_delay")),
        "execution_timeout": seconds(_attribute(task, "execution_timeout")),
        "owner": str(_attribute(task, "owner", "airflow")),
        "pool": str(_attribute(task, "pool", "default_pool")),
        "pool_slots": int(_attribute(task, "pool_slots", 1)),
        "priority_weight": int(_attribute(task, "priority_weight", 1)),
        "doc": _doc(task),
        "group_id": task.task_group.group_id if task.task_group else None,
        "multiple_outputs": bool(_attribute(task, "multiple_outputs", False)),
        "callable": getattr(callable_, "__qualname__", None) if callable_ else None,
        "inputs": _inputs(task, kind, same_group),
        "options": _scheduler_options(task, kind),
        "expand": expand,
        "line": line,
        **task_asset_fields(task),
    }
    if kind == "sensor":
        out["sensor"] = _sensor(task)
    if task.is_setup:
        out["is_setup"] = True
    if task.is_teardown:
        out["is_teardown"] = True
        if task.on_failure_fail_dagrun:
            out["on_failure_fail_dagrun"] = True
    return out
