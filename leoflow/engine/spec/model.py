"""The dag.json spec as immutable Python values.

A compiled DAG is a plain JSON document (see ``dag.schema.json`` beside this module and
``docs/dag-json.md``). This module turns a validated document into frozen dataclasses that
the store and the scheduler read; it never executes user code and does no I/O.

Task inputs are encoded as single-key tagged values so that a literal dict can never be
mistaken for a reference:

* ``{"literal": <json>}``          a JSON value, passed as is
* ``{"xcom": {"task_id": t, "key": k}}``  an upstream result (key ``return_value`` by default);
  when ``t`` is a mapped task the consumer receives the ordered list of its results
* ``{"param": {"name": n}}``      a DAG param (a ``@dag`` function's argument), from the run
* ``{"list": [<encoded>, ...]}``   a list holding at least one reference (fan-in)
* ``{"dict": {name: <encoded>}}``  a dict holding at least one reference
* ``{"map": {"arg", "fns", "names"}}``, ``{"zip": {"args", "longest", "fillvalue"}}``,
  ``{"concat": {"args"}}``: ``XComArg.map/zip/concat`` (the map functions run in the user's
  process); ``{"mapped_arg": {"name"}}``: an argument of the task's mapped task group;
  an ``xcom`` body with ``"same_map_index": true`` reads one instance of a task of the same
  mapped task group (see ``leoflow.sdk.mapping_spec``)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

SPEC_VERSION = 1

TRIGGER_RULES: tuple[str, ...] = (
    "all_success",
    "all_failed",
    "all_done",
    "all_done_min_one_success",
    "all_done_setup_success",
    "one_success",
    "one_failed",
    "one_done",
    "none_failed",
    "none_skipped",
    "none_failed_min_one_success",
    "always",
    "all_skipped",
)

OPERATORS: tuple[str, ...] = ("python", "bash", "http", "empty", "branch", "short_circuit",
                               "sensor")
TRIGGER_KINDS: tuple[str, ...] = ("time", "file", "http", "external_task", "file_delete")

ScheduleKind = Literal["none", "once", "cron", "timedelta", "assets"]


@dataclass(frozen=True)
class Schedule:
    """When a DAG runs by itself.

    ``cron`` holds a five-field expression (presets such as ``@daily`` are expanded to it and
    the original kept in ``expression``); ``data_interval`` selects the opt-in data-interval
    timetable instead of Airflow 3's default trigger timetable.
    """

    kind: ScheduleKind = "none"
    expression: str | None = None
    cron: str | None = None
    seconds: float | None = None
    timezone: str = "UTC"
    data_interval: bool = False
    # The asset condition that starts a run (see ``docs/assets.md``): alone when ``kind`` is
    # ``assets``, or beside a timetable (Airflow's ``AssetOrTimeSchedule``). A leaf is an
    # asset reference (``{"asset": {...}}``, ``{"alias": {...}}``, ``{"asset_ref": {...}}``),
    # a node ``{"all": [...]}`` or ``{"any": [...]}``.
    assets: Mapping[str, Any] | None = None
    # Partitioned scheduling: ``{"kind": "cron" | "runtime" | "assets", ...mappers}``.
    partition: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schedule:
        assets = data.get("assets")
        partition = data.get("partition")
        return cls(
            kind=data["kind"],
            expression=data.get("expression"),
            cron=data.get("cron"),
            seconds=data.get("seconds"),
            timezone=data.get("timezone", "UTC"),
            data_interval=bool(data.get("data_interval", False)),
            assets=_frozen(assets) if assets else None,
            partition=_frozen(partition) if partition else None,
        )


@dataclass(frozen=True)
class XComRef:
    """A reference to an upstream task's XCom value."""

    task_id: str
    key: str = "return_value"


@dataclass(frozen=True)
class Expansion:
    """Dynamic task mapping: ``mode`` is ``kwargs`` for ``.expand(x=...)`` (the cross product
    of every named list) or ``list_of_kwargs`` for ``.expand_kwargs(...)``."""

    mode: Literal["kwargs", "list_of_kwargs"]
    values: Mapping[str, Any]  # encoded input values; for list_of_kwargs the key is "kwargs"
    order: tuple[str, ...] = ()  # the names as declared: the cross product's order
    # set for the tasks of a mapped task group: the group's expansion, read through
    # {"mapped_arg": ...} inputs instead of being merged into the task's arguments
    group: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The mapped argument names in declaration order (the first varies slowest)."""
        return self.order or tuple(self.values)


@dataclass(frozen=True)
class EdgeLabel:
    upstream: str
    downstream: str
    label: str


@dataclass(frozen=True)
class TriggerSpec:
    """What a deferred task waits for: a ``kind`` of ``TRIGGER_KINDS`` and its arguments
    (docs/sensors.md lists them). The control plane runs it; no user code is involved."""

    kind: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TriggerSpec:
        return cls(kind=data["kind"], kwargs=MappingProxyType(dict(data.get("kwargs") or {})))


@dataclass(frozen=True)
class SensorSpec:
    """A sensor's settings, as Airflow's BaseSensorOperator takes them (seconds).

    ``trigger`` is set for sensors that wait in the control plane from the start, with no
    process at all (Airflow's ``start_from_trigger``): the time sensors always, and the file,
    HTTP and external-task sensors when ``deferrable=True``.
    """

    mode: Literal["poke", "reschedule"] = "poke"
    poke_interval: float = 60.0
    timeout: float | None = 7 * 24 * 3600.0
    soft_fail: bool = False
    exponential_backoff: bool = False
    max_wait: float | None = None
    trigger: TriggerSpec | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SensorSpec:
        trigger = data.get("trigger")
        return cls(
            mode=data.get("mode", "poke"),
            poke_interval=float(data.get("poke_interval", 60.0)),
            timeout=data.get("timeout"),
            soft_fail=bool(data.get("soft_fail", False)),
            exponential_backoff=bool(data.get("exponential_backoff", False)),
            max_wait=data.get("max_wait"),
            trigger=TriggerSpec.from_json(trigger) if trigger else None,
        )


@dataclass(frozen=True)
class TaskSpec:
    """One task of a DAG, as the scheduler and the agent need it."""

    task_id: str
    operator: str
    upstream: tuple[str, ...] = ()
    trigger_rule: str = "all_success"
    retries: int = 0
    retry_delay: float = 300.0
    retry_exponential_backoff: bool = False
    max_retry_delay: float | None = None
    execution_timeout: float | None = None
    owner: str = "airflow"
    pool: str = "default_pool"
    pool_slots: int = 1
    priority_weight: int = 1
    doc: str | None = None
    group_id: str | None = None
    multiple_outputs: bool = False
    callable: str | None = None
    operator_class: str | None = None
    # "airflow": the real task SDK's task runner executes the task in the DAG's environment
    # (docs/dag-json.md, "runtime"); "leoflow" (the default, and every older spec): the SDK
    runtime: str = "leoflow"
    operator_module: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    expand: Expansion | None = None
    sensor: SensorSpec | None = None
    line: int | None = None
    # pod settings under the Kubernetes executor (resources, node_selector, tolerations,
    # service_account_name, env, annotations, labels); empty elsewhere
    kubernetes: Mapping[str, Any] = field(default_factory=dict)
    # Airflow's setup/teardown tasks (docs/airflow-compat.md): a teardown runs when its work
    # failed, and its own failure fails the run only with on_failure_fail_dagrun
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    # Asset references (see ``Schedule.assets`` for their form): what a success updates
    # (asset events) and what the task reads (``inlet_events``).
    outlets: tuple[Mapping[str, Any], ...] = ()
    inlets: tuple[Mapping[str, Any], ...] = ()

    @property
    def is_mapped(self) -> bool:
        return self.expand is not None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskSpec:
        expand = data.get("expand")
        return cls(
            task_id=data["task_id"],
            operator=data["operator"],
            upstream=tuple(data.get("upstream", ())),
            trigger_rule=data.get("trigger_rule", "all_success"),
            retries=int(data.get("retries", 0)),
            retry_delay=float(data.get("retry_delay", 300.0)),
            retry_exponential_backoff=bool(data.get("retry_exponential_backoff", False)),
            max_retry_delay=data.get("max_retry_delay"),
            execution_timeout=data.get("execution_timeout"),
            owner=data.get("owner", "airflow"),
            pool=data.get("pool", "default_pool"),
            pool_slots=int(data.get("pool_slots", 1)),
            priority_weight=int(data.get("priority_weight", 1)),
            doc=data.get("doc"),
            group_id=data.get("group_id"),
            multiple_outputs=bool(data.get("multiple_outputs", False)),
            callable=data.get("callable"),
            operator_class=data.get("operator_class"),
            runtime=data.get("runtime", "leoflow"),
            operator_module=data.get("operator_module"),
            inputs=MappingProxyType(dict(data.get("inputs", {}))),
            options=MappingProxyType(dict(data.get("options") or {})),
            expand=Expansion(mode=expand["mode"], values=MappingProxyType(dict(expand["values"])),
                             order=tuple(expand.get("order", ())),
                             group=expand.get("group"))
            if expand
            else None,
            sensor=SensorSpec.from_json(data["sensor"]) if data.get("sensor") else None,
            line=data.get("line"),
            kubernetes=MappingProxyType(dict(data.get("kubernetes") or {})),
            is_setup=bool(data.get("is_setup", False)),
            is_teardown=bool(data.get("is_teardown", False)),
            on_failure_fail_dagrun=bool(data.get("on_failure_fail_dagrun", False)),
            outlets=tuple(_frozen(o) for o in data.get("outlets", ())),
            inlets=tuple(_frozen(i) for i in data.get("inlets", ())),
        )


@dataclass(frozen=True)
class DagSpec:
    """A whole compiled DAG. ``tasks`` keeps the declaration order of the DAG file."""

    dag_id: str
    content_hash: str
    tasks: tuple[TaskSpec, ...]
    schedule: Schedule = Schedule()
    start_date: str | None = None
    end_date: str | None = None
    catchup: bool = False
    max_active_runs: int = 16
    max_active_tasks: int = 16
    dagrun_timeout: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str | None = None
    doc_md: str | None = None
    owner: str = "airflow"
    edge_labels: tuple[EdgeLabel, ...] = ()
    python_version: str | None = None
    dependencies: tuple[str, ...] = ()
    image: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    fileloc: str = "dag.py"
    source_sha256: str | None = None
    project: str | None = None
    default_args: Mapping[str, Any] = field(default_factory=dict)
    task_groups: tuple[Mapping[str, Any], ...] = ()
    # Every asset the DAG names, as declared (name, uri, group, extra, watchers,
    # access_control), and every alias.
    assets: tuple[Mapping[str, Any], ...] = ()
    asset_aliases: tuple[Mapping[str, Any], ...] = ()
    # "airflow" for a DAG compiled from the real Airflow's objects (its tasks say so too)
    runtime: str = "leoflow"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def task(self, task_id: str) -> TaskSpec:
        """Return the task named ``task_id``; ``KeyError`` when the DAG has none."""
        return self._by_id[task_id]

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(t.task_id for t in self.tasks)

    @property
    def _by_id(self) -> Mapping[str, TaskSpec]:
        cached = self.__dict__.get("_by_id_cache")
        if cached is None:
            cached = {t.task_id: t for t in self.tasks}
            object.__setattr__(self, "_by_id_cache", cached)
        return cached

    def downstream(self, task_id: str) -> tuple[str, ...]:
        """Task ids that list ``task_id`` as an upstream, in declaration order."""
        cached = self.__dict__.get("_downstream_cache")
        if cached is None:
            table: dict[str, list[str]] = {t.task_id: [] for t in self.tasks}
            for t in self.tasks:
                for up in t.upstream:
                    table.setdefault(up, []).append(t.task_id)
            cached = {k: tuple(v) for k, v in table.items()}
            object.__setattr__(self, "_downstream_cache", cached)
        return cached.get(task_id, ())

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(self.tasks)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DagSpec:
        """Build a spec from an already validated dag.json document."""
        return cls(
            dag_id=data["dag_id"],
            content_hash=data.get("content_hash", ""),
            tasks=tuple(TaskSpec.from_json(t) for t in data["tasks"]),
            schedule=Schedule.from_json(data.get("schedule", {"kind": "none"})),
            start_date=data.get("start_date"),
            end_date=data.get("end_date"),
            catchup=bool(data.get("catchup", False)),
            max_active_runs=int(data.get("max_active_runs", 16)),
            max_active_tasks=int(data.get("max_active_tasks", 16)),
            dagrun_timeout=data.get("dagrun_timeout"),
            params=MappingProxyType(dict(data.get("params", {}))),
            tags=tuple(data.get("tags", ())),
            description=data.get("description"),
            doc_md=data.get("doc_md"),
            owner=data.get("owner", "airflow"),
            edge_labels=tuple(EdgeLabel(**e) for e in data.get("edge_labels", ())),
            python_version=data.get("python_version"),
            dependencies=tuple(data.get("dependencies", ())),
            image=data.get("image"),
            env=MappingProxyType(dict(data.get("env", {}))),
            fileloc=data.get("fileloc", "dag.py"),
            source_sha256=data.get("source_sha256"),
            project=data.get("project"),
            default_args=MappingProxyType(dict(data.get("default_args") or {})),
            task_groups=tuple(MappingProxyType(dict(g)) for g in data.get("task_groups", ())),
            assets=tuple(_frozen(a) for a in data.get("assets", ())),
            asset_aliases=tuple(_frozen(a) for a in data.get("asset_aliases", ())),
            runtime=data.get("runtime", "leoflow"),
            raw=MappingProxyType(dict(data)),
        )


def _frozen(value: Any) -> Any:
    """A read-only deep copy of a JSON value (dicts become mapping proxies, lists tuples)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def iter_xcom_refs(encoded: Any) -> Iterator[XComRef]:
    """Yield every XCom reference inside an encoded input value, depth first, in order."""
    if not isinstance(encoded, Mapping) or len(encoded) != 1:
        return
    (tag, body), = encoded.items()
    if tag == "xcom":
        yield XComRef(task_id=body["task_id"], key=body.get("key", "return_value"))
    elif tag == "list":
        for item in body:
            yield from iter_xcom_refs(item)
    elif tag == "dict":
        for item in body.values():
            yield from iter_xcom_refs(item)
    elif tag == "map":
        yield from iter_xcom_refs(body["arg"])
    elif tag in ("zip", "concat"):
        for item in body["args"]:
            yield from iter_xcom_refs(item)
