"""``BaseOperator``: what every task shares (id, retries, trigger rule, dependencies, mapping).

An operator object only *describes* a task. It is turned into a dag.json entry by
``leoflow.sdk.serialize`` and executed later by the task runner in the DAG's environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from leoflow.sdk import context
from leoflow.sdk.asset_serialize import check_task_assets
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.location import user_frame_location
from leoflow.sdk.relations import DependencyMixin
from leoflow.sdk.retry_policy import check_retry_policy
from leoflow.sdk.setup_teardown import SetupTeardownMixin, register_task
from leoflow.sdk.xcom_arg import XComArg

if TYPE_CHECKING:
    from leoflow.sdk.dag import DAG
    from leoflow.sdk.taskgroup import TaskGroup

TRIGGER_RULES: tuple[str, ...] = (
    "all_success", "all_failed", "all_done", "all_done_min_one_success",
    "all_done_setup_success", "one_success", "one_failed", "one_done", "none_failed",
    "none_skipped", "none_failed_min_one_success", "always", "all_skipped",
)

# Task settings with their built-in defaults; a DAG's ``default_args`` override these
# defaults, and an argument given to the task overrides both (Airflow's precedence).
BASE_DEFAULTS: dict[str, Any] = {
    "owner": "airflow",
    "retries": 0,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": False,
    "max_retry_delay": None,
    "execution_timeout": None,
    "trigger_rule": "all_success",
    "pool": "default_pool",
    "pool_slots": 1,
    "priority_weight": 1,
    # Airflow 3.3: decides per exception whether and when to retry (leoflow.sdk.retry_policy)
    "retry_policy": None,
}

# Airflow arguments that are accepted so existing DAG files compile unchanged, but that do
# not change how Leoflow runs the task (documented in docs/airflow-compat.md); "inlets" and
# "outlets" are listed only to be accepted: they name assets (set in __init__).
ACCEPTED_AND_IGNORED = frozenset({
    "email", "email_on_failure", "email_on_retry", "queue", "sla", "on_failure_callback",
    "on_success_callback", "on_retry_callback", "on_execute_callback",
    "on_skipped_callback", "weight_rule", "executor_config", "do_xcom_push",
    "map_index_template", "task_display_name", "max_active_tis_per_dag",
    "max_active_tis_per_dagrun", "wait_for_downstream", "depends_on_past", "start_date",
    "end_date", "resources", "run_as_user", "executor", "inlets", "outlets", "params",
    "owner_links", "ignore_first_depends_on_past", "wait_for_past_depends_before_skipping",
    "show_return_value_in_logs", "templates_dict", "templates_exts", "priority_weight_rule",
})

_mapping_depth = 0


@contextlib.contextmanager
def building_mapped() -> Iterator[None]:
    """While active, operators skip their "required argument" checks (the values are mapped)."""
    global _mapping_depth
    _mapping_depth += 1
    try:
        yield
    finally:
        _mapping_depth -= 1


def is_building_mapped() -> bool:
    return _mapping_depth > 0


def to_seconds(name: str, value: Any, task_id: str) -> float | None:
    """Accept a ``timedelta`` or a number of seconds, as Airflow does for delays."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise DagDefinitionError(
        f"task {task_id!r}: {name} must be a timedelta or a number of seconds, got {value!r}",
        **_where(),
    )


def _where() -> dict[str, Any]:
    file, line = user_frame_location()
    return {"file": file, "line": line}


class BaseOperator(SetupTeardownMixin, DependencyMixin):
    """The common part of every task. Subclasses set ``operator_kind`` and their inputs."""

    operator_kind: ClassVar[str] = "empty"
    mappable_fields: ClassVar[tuple[str, ...]] = ()
    dedupe_task_ids: ClassVar[bool] = False
    ui_color: ClassVar[str] = "#fff"
    # a templated string ending with one of these is a template file (leoflow.sdk.templating)
    template_ext: Sequence[str] = ()

    def __init__(self, task_id: str, *, dag: DAG | None = None,
                 task_group: TaskGroup | None = None, doc: str | None = None,
                 doc_md: str | None = None, **kwargs: Any) -> None:
        from leoflow.sdk.dag import check_id

        self.fileloc, self.line = user_frame_location()
        unknown = set(kwargs) - set(BASE_DEFAULTS) - ACCEPTED_AND_IGNORED - {
            "doc_rst", "doc_json", "doc_yaml", "pre_execute", "post_execute"}
        if unknown:
            raise DagDefinitionError(
                f"{type(self).__name__}({task_id!r}) got unknown argument(s): "
                f"{', '.join(sorted(unknown))}", file=self.fileloc, line=self.line)
        the_dag = dag or context.current_dag()
        if the_dag is None:
            raise DagDefinitionError(
                f"task {task_id!r} is created outside a DAG; create it inside "
                "'with DAG(...)' or a @dag function", file=self.fileloc, line=self.line)
        group = task_group or context.current_group()
        defaults = dict(the_dag.default_args)
        if group is not None:
            defaults.update(group.inherited_default_args())
        settings = {name: kwargs.get(name, defaults.get(name, builtin))
                    for name, builtin in BASE_DEFAULTS.items()}

        check_id("task_id", task_id)
        self.task_id = group.child_id(task_id) if group is not None else task_id
        self.dag: DAG = the_dag
        self.task_group = group
        self.owner = str(settings["owner"])
        self.retries = self._check_int("retries", settings["retries"])
        self.retry_delay = to_seconds("retry_delay", settings["retry_delay"], task_id) or 0.0
        self.retry_exponential_backoff = bool(settings["retry_exponential_backoff"])
        self.max_retry_delay = to_seconds("max_retry_delay", settings["max_retry_delay"],
                                          task_id)
        self.execution_timeout = to_seconds("execution_timeout",
                                            settings["execution_timeout"], task_id)
        self.trigger_rule = str(getattr(settings["trigger_rule"], "value",
                                        settings["trigger_rule"]))
        if self.trigger_rule not in TRIGGER_RULES:
            raise DagDefinitionError(
                f"task {task_id!r}: trigger_rule {self.trigger_rule!r} is not one of "
                f"{', '.join(TRIGGER_RULES)}", file=self.fileloc, line=self.line)
        self.pool = str(settings["pool"])
        self.pool_slots = self._check_int("pool_slots", settings["pool_slots"], minimum=1)
        self.priority_weight = self._check_int("priority_weight", settings["priority_weight"],
                                               minimum=None)
        self.retry_policy = check_retry_policy(settings["retry_policy"], task_id,
                                               self.fileloc, self.line)
        self.doc = doc or doc_md or kwargs.get("doc_rst") or kwargs.get("doc_json")
        if kwargs.get("templates_exts"):  # @task(templates_exts=[".sql"]), PythonOperator
            self.template_ext = tuple(kwargs["templates_exts"])
        self.templates_dict: dict[str, Any] | None = kwargs.get("templates_dict")
        # assets a success updates and assets the task reads (leoflow.sdk.asset_serialize)
        self.outlets: list[Any] = check_task_assets("outlets", kwargs.get("outlets"), task_id,
                                                    self.fileloc, self.line)
        self.inlets: list[Any] = check_task_assets("inlets", kwargs.get("inlets"), task_id,
                                                   self.fileloc, self.line)
        self.callable: Any = None
        self.multiple_outputs = False
        self.op_args: list[Any] = []
        self.op_kwargs: dict[str, Any] = {}
        self.options: dict[str, Any] = {}
        # Airflow's pre_execute(context) / post_execute(context, result) arguments, run by
        # the task runner (leoflow.sdk.execute_hooks; the option "post_execute" in dag.json)
        self._pre_execute_hook = kwargs.get("pre_execute")
        self._post_execute_hook = kwargs.get("post_execute")
        self.expand_mode: str | None = None
        self.expand_values: Any = None
        self._upstream: list[BaseOperator] = []
        self._downstream: list[BaseOperator] = []
        the_dag.add_task(self, dedupe=self.dedupe_task_ids)
        if group is not None:
            group.add(self)
        register_task(self)  # work of an open 'with setup >> teardown:' block

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A user's subclass that defines ``execute`` runs it in a process (kind "python").

        Leoflow's own operators set ``operator_kind`` themselves; only classes that would
        otherwise inherit "empty" (which never starts a process) are changed.
        """
        super().__init_subclass__(**kwargs)
        own = cls.__module__.startswith("leoflow.")
        if "execute" in cls.__dict__ and cls.operator_kind == "empty" and not own:
            cls.operator_kind = "python"

    # -- run time --------------------------------------------------------------------------
    def execute(self, context: dict[str, Any]) -> Any:
        """What the task does; user operators override it (Airflow's ``execute``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement execute(context)")

    def defer(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None,
              timeout: timedelta | float | None = None) -> None:
        """Free the slot and wait in the control plane for ``trigger``.

        When it fires, the same try resumes in a new process with
        ``getattr(self, method_name)(context=context, event=<event>, **kwargs)``.
        """
        from leoflow.sdk.errors import TaskDeferred
        from leoflow.sdk.triggers import trigger_spec_of

        if kwargs is not None and not isinstance(kwargs, dict):
            raise TypeError(f"defer(kwargs=...) must be a dict, got {kwargs!r}")
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        raise TaskDeferred(trigger=trigger_spec_of(trigger), method_name=method_name,
                           kwargs=dict(kwargs or {}), timeout=seconds)

    def render_template(self, content: Any, context: Any, jinja_env: Any = None,
                        seen_oids: Any = None) -> Any:
        """Airflow's ``render_template``: Jinja over a string (or the strings of a list or
        dict) with ``context``, while the task runs (see ``leoflow.sdk.templating``)."""
        from leoflow.sdk.templating import render_template

        return render_template(self, content, context)

    def runs_execute(self) -> bool:
        """True when the task runs a user's ``execute`` (a custom operator), not a callable."""
        method = getattr(type(self), "execute", None)
        module = getattr(method, "__module__", "") or ""
        return method is not None and not module.startswith("leoflow.")

    def apply_inputs(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Set a custom operator's rendered template fields back on it before ``execute``."""
        for name, value in kwargs.items():
            setattr(self, name, value)

    def collect_template_inputs(self) -> None:
        """A custom operator's ``template_fields`` become inputs, so that they are rendered
        (Jinja, upstream results) before ``execute`` runs, as in Airflow."""
        if not self.runs_execute() or self.callable is not None:
            return
        fields = getattr(self, "template_fields", ()) or ()
        for name in (fields,) if isinstance(fields, str) else fields:
            if name in self.op_kwargs or not hasattr(self, name):
                continue
            value = getattr(self, name)
            if _jsonable(value):
                self.op_kwargs[name] = value
                self._depend_on_refs(value)

    def _check_int(self, name: str, value: Any, minimum: int | None = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or (
            minimum is not None and value < minimum
        ):
            bound = f" >= {minimum}" if minimum is not None else ""
            raise DagDefinitionError(
                f"task {self.task_id if hasattr(self, 'task_id') else ''!r}: {name} must be "
                f"an integer{bound}, got {value!r}", file=self.fileloc, line=self.line)
        return value

    # -- inputs ----------------------------------------------------------------------------
    def set_inputs(self, args: list[Any] | tuple[Any, ...] = (),
                   kwargs: dict[str, Any] | None = None) -> None:
        """Record the task's inputs and depend on every upstream result found inside them."""
        self.op_args = list(args)
        self.op_kwargs = dict(kwargs or {})
        self._depend_on_refs(self.op_args)
        self._depend_on_refs(self.op_kwargs)

    def set_expansion(self, mode: str, values: Any) -> None:
        self.expand_mode = mode
        self.expand_values = values
        self._depend_on_refs(values)

    def _depend_on_refs(self, value: Any) -> None:
        if isinstance(value, XComArg):
            for upstream in value.references():  # several for zip/concat, none for a
                self.add_upstream_task(upstream)  # mapped task group's argument
        elif isinstance(value, (list, tuple)):
            for item in value:
                self._depend_on_refs(item)
        elif isinstance(value, dict):
            for item in value.values():
                self._depend_on_refs(item)

    # -- dependencies ----------------------------------------------------------------------
    def add_upstream_task(self, upstream: BaseOperator, label: str | None = None) -> None:
        if all(u is not upstream for u in self._upstream):
            self._refuse_cycle(upstream)
            self._upstream.append(upstream)
            upstream._downstream.append(self)
        if label:
            self.dag.edge_labels[(upstream.task_id, self.task_id)] = label

    def _refuse_cycle(self, upstream: BaseOperator) -> None:
        """Refuse the edge ``upstream >> self`` when ``self`` already leads to ``upstream``:
        the error names the line of the ``>>`` (or ``set_upstream``) that closes the cycle,
        where the author must change something. Only the tasks downstream of ``self`` are
        walked, so building a DAG left to right costs nothing here."""
        if not self._downstream or not upstream._upstream:
            return
        parents: dict[int, BaseOperator | None] = {id(self): None}
        stack: list[BaseOperator] = [self]
        while stack:
            node = stack.pop()
            if node is upstream:
                path = [node.task_id]
                back = parents[id(node)]
                while back is not None:
                    path.append(back.task_id)
                    back = parents[id(back)]
                path.reverse()
                file, line = user_frame_location()
                dag_id = self.dag.dag_id if self.dag is not None else "?"
                raise DagDefinitionError(
                    f"DAG {dag_id!r} has a cycle: {' -> '.join([*path, self.task_id])}",
                    file=file, line=line)
            for child in node._downstream:
                if id(child) not in parents:
                    parents[id(child)] = node
                    stack.append(child)

    def endpoints(self) -> list[BaseOperator]:
        return [self]

    def upstream_tasks(self) -> list[BaseOperator]:
        return list(self._upstream)

    def downstream_tasks(self) -> list[BaseOperator]:
        return list(self._downstream)

    @property
    def upstream_task_ids(self) -> set[str]:
        return {t.task_id for t in self._upstream}

    @property
    def downstream_task_ids(self) -> set[str]:
        return {t.task_id for t in self._downstream}

    @property
    def output(self) -> XComArg:
        """This task's return value, to pass to another task (Airflow's ``.output``)."""
        return XComArg(self)

    @property
    def is_mapped(self) -> bool:
        return self.expand_mode is not None

    @property
    def dag_id(self) -> str:
        return self.dag.dag_id

    # -- mapping ---------------------------------------------------------------------------
    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """``BashOperator.partial(task_id="x").expand(bash_command=[...])``."""
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{cls.__name__}.partial() needs a task_id", **_where())
        return OperatorPartial(cls, kwargs)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


def _jsonable(value: Any) -> bool:
    """Whether a template field can travel as an input (JSON data or an upstream result)."""
    if value is None or isinstance(value, (bool, int, float, str, XComArg)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


class OperatorPartial:
    """The result of ``Operator.partial(...)``, waiting for ``.expand`` or ``.expand_kwargs``."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> None:
        self.operator_class = operator_class
        self.kwargs = kwargs

    def expand(self, **mapped: Any) -> BaseOperator:
        from leoflow.sdk import mapped_operators

        if not mapped:
            raise DagDefinitionError("expand() needs at least one argument to map over",
                                     **_where())
        if mapped_operators.is_user_operator(self.operator_class):
            # a user's operator: every __init__ argument is mappable, as in Airflow
            mapped_operators.check_names(self.operator_class, list(mapped), _where())
            for name, value in mapped.items():
                check_expandable(name, value)
            op = mapped_operators.build_mapped(self.operator_class, self.kwargs, list(mapped))
            for name in mapped:
                op.op_kwargs.pop(name, None)
            op.set_expansion("kwargs", dict(mapped))
            return op
        not_mappable = set(mapped) - set(self.operator_class.mappable_fields)
        if not_mappable:
            raise DagDefinitionError(
                f"{self.operator_class.__name__} cannot map over "
                f"{', '.join(sorted(not_mappable))}; mappable: "
                f"{', '.join(self.operator_class.mappable_fields) or 'none'}", **_where())
        for name, value in mapped.items():
            check_expandable(name, value)
        with building_mapped():
            op = self.operator_class(**self.kwargs)
        for name in mapped:  # the mapped values replace the placeholders the operator stored
            op.op_kwargs.pop(name, None)
        op.set_expansion("kwargs", dict(mapped))
        return op

    def expand_kwargs(self, value: Any) -> BaseOperator:
        from leoflow.sdk import mapped_operators

        check_expandable("expand_kwargs", value, items_are_dicts=True)
        if mapped_operators.is_user_operator(self.operator_class):
            op = mapped_operators.build_mapped(self.operator_class, self.kwargs, None)
            op.set_expansion("list_of_kwargs", value)
            return op
        with building_mapped():
            op = self.operator_class(**self.kwargs)
        op.op_kwargs = {k: v for k, v in op.op_kwargs.items() if v is not None}
        op.set_expansion("list_of_kwargs", value)
        return op


def check_expandable(name: str, value: Any, *, items_are_dicts: bool = False) -> None:
    """Mapping works over a literal list (or dict) or an upstream result, as in Airflow."""
    if isinstance(value, XComArg):
        return
    if isinstance(value, dict) and not items_are_dicts:
        return
    if not isinstance(value, (list, tuple)):
        raise DagDefinitionError(
            f"cannot map over {name}={value!r}: expand() takes a list, a dict or the result "
            "of an upstream task", **_where())
    if items_are_dicts:
        for item in value:
            if not isinstance(item, (dict, XComArg)):
                raise DagDefinitionError(
                    f"expand_kwargs() takes a list of dicts, got an item {item!r}", **_where())
