"""``@asset`` and ``@asset.multi``: a function that materializes assets, as a DAG of its own.

As in Airflow 3.3 (``airflow.sdk.definitions.asset.decorators``), ``@asset(schedule=...)``
on ``def orders(...)`` defines the asset ``orders`` (its URI is ``uri=`` or the name) and
builds at once the DAG ``orders`` (``dag_id=`` to choose another) with one task ``orders``
whose outlet is the asset. The decorated name *is* the asset: other DAGs schedule on it.
``@asset.multi(outlets=[a, b], schedule=...)`` builds one DAG and one task with several
outlets.

The function's parameters say what it receives when it runs: ``self`` (the asset),
``context`` (the task's context), a context key (``outlet_events``, ``inlet_events``,
``dag_run``... its value), a parameter with a default (the default), and any other name the
asset of that name, which is therefore an inlet (``Asset.ref(name=...)``). dag.json records
this in the task's option ``asset_function`` (``docs/assets.md``) for the task runner.
Standard library only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from leoflow.sdk.assets import (
    Asset,
    AssetAll,
    AssetTypeError,
    AssetValueError,
    BaseAsset,
    located,
)
from leoflow.sdk.dag import DAG
from leoflow.sdk.decorators import CONTEXT_KEYS, TaskDecorator
from leoflow.sdk.operators import PythonOperator

# Parameters that are never asset names (Airflow's _INVALID_INLET_ASSET_NAMES plus, as the
# parts' contract says, every context key: its value is passed instead).
_SPECIAL = {"self": "self", "context": "context"}


def parameter_sources(function: Callable[..., Any]) -> list[dict[str, str]]:
    """Each parameter of an asset function and where its value comes from at run time:
    ``self``, ``context``, ``context_key``, ``default`` or ``asset`` (an inlet)."""
    sources = []
    for name, param in inspect.signature(function).parameters.items():
        if param.kind is param.VAR_POSITIONAL:
            raise located(AssetTypeError, f"wildcard '*{name}' is not supported in @asset")
        if param.kind is param.VAR_KEYWORD:
            raise located(AssetTypeError, f"wildcard '**{name}' is not supported in @asset")
        if param.kind is param.POSITIONAL_ONLY and param.default is param.empty:
            raise located(AssetTypeError, f"positional-only argument '{name}' without a "
                                          "default is not supported in @asset")
        if param.default is not param.empty:
            source = "default"
        elif name in _SPECIAL:
            source = _SPECIAL[name]
        elif name in CONTEXT_KEYS:
            source = "context_key"
        else:
            source = "asset"
        sources.append({"name": name, "source": source})
    return sources


class _AssetMainOperator(PythonOperator):
    """The one task of an ``@asset`` DAG (Airflow's class name, shown in its UI and API)."""

    def __init__(self, *, definition_name: str, parameters: list[dict[str, str]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.definition_name = definition_name
        self.asset_parameters = parameters
        self.options = {"asset_function": {"definition_name": definition_name,
                                           "parameters": parameters}}

    def asset_call_kwargs(self, context: Mapping[str, Any],
                          fetch_asset: Callable[[str], Any]) -> dict[str, Any]:
        """The keyword arguments of the function for this run (Airflow's
        ``_AssetMainOperator.determine_kwargs``): ``fetch_asset(name)`` gives the asset of
        that name as the control plane knows it (for ``self`` and the inlets)."""
        params = inspect.signature(self.callable).parameters
        kwargs: dict[str, Any] = {}
        for entry in self.asset_parameters:
            name, source = entry["name"], entry["source"]
            if source == "default":
                kwargs[name] = params[name].default
            elif source == "self":
                kwargs[name] = fetch_asset(self.definition_name)
            elif source == "context":
                kwargs[name] = context
            elif source == "context_key":
                kwargs[name] = context.get(name)
            else:
                kwargs[name] = fetch_asset(name)
        return kwargs


def _check_function(function: Any) -> Callable[..., Any]:
    if not callable(function):
        raise located(AssetTypeError, f"@asset decorates a function, got {function!r}")
    if function.__name__ != function.__qualname__:
        raise located(AssetValueError, f"@asset on {function.__qualname__!r}: nested function "
                                       "not supported (define it at module level)")
    return function


def _instantiate_task(function: Any, definition_name: str, outlets: list[BaseAsset]) -> None:
    """The DAG's task: the user's ``@task`` (given the outlets) or an ``_AssetMainOperator``."""
    if isinstance(function, TaskDecorator):
        if "outlets" in function.kwargs:
            raise located(AssetTypeError,
                          "@task decorator with 'outlets' argument is not supported in @asset")
        function.override(outlets=outlets)()
        return
    parameters = parameter_sources(function)
    _AssetMainOperator(
        task_id=function.__name__, python_callable=function,
        inlets=[Asset.ref(name=p["name"]) for p in parameters if p["source"] == "asset"],
        outlets=outlets, definition_name=definition_name, parameters=parameters)


class _DAGFactory:
    """The DAG arguments ``@asset`` and ``@asset.multi`` accept (Airflow's ``_DAGFactory``)."""

    def __init__(self, *, schedule: Any = inspect.Parameter.empty,
                 is_paused_upon_creation: bool | None = None, dag_id: str | None = None,
                 dag_display_name: str | None = None, description: str | None = None,
                 params: dict[str, Any] | None = None, on_success_callback: Any = None,
                 on_failure_callback: Any = None, access_control: Any = None,
                 owner_links: dict[str, str] | None = None,
                 tags: Collection[str] | None = None) -> None:
        if schedule is inspect.Parameter.empty:
            raise located(AssetTypeError, f"@{self._decorator_name()}(...) needs schedule= "
                                          "(None for an asset materialized on demand)")
        self.schedule = schedule
        self.dag_id = dag_id
        self.dag_options: dict[str, Any] = {
            "is_paused_upon_creation": is_paused_upon_creation,
            "dag_display_name": dag_display_name, "description": description,
            "params": params, "owner_links": owner_links,
            "tags": sorted(tags) if isinstance(tags, (set, frozenset)) else list(tags or []),
        }
        # arguments Leoflow's DAG does not take yet: passed only when given, so the DAG
        # names them in its "unknown argument" error
        for name, value in (("on_success_callback", on_success_callback),
                            ("on_failure_callback", on_failure_callback),
                            ("access_control", access_control)):
            if value is not None:
                self.dag_options[name] = value

    def _decorator_name(self) -> str:
        return "asset"

    def create_dag(self, *, default_dag_id: str) -> DAG:
        dag_id = self.dag_id or default_dag_id
        options = dict(self.dag_options)
        options["dag_display_name"] = options["dag_display_name"] or dag_id
        return DAG(dag_id=dag_id, schedule=self.schedule, catchup=False, **options)


class AssetDefinition(Asset):
    """The asset an ``@asset`` function materializes; building it builds its DAG."""

    def __init__(self, *, name: str, uri: Any, group: str, extra: dict[str, Any] | None,
                 watchers: list[Any] | None, function: Callable[..., Any],
                 source: asset) -> None:
        super().__init__(name=name, uri=uri, group=group, extra=extra, watchers=watchers)
        self._function = function
        self._source = source
        self.dag = source.create_dag(default_dag_id=self.name)
        with self.dag:
            _instantiate_task(function, self.name, list(self.iter_outlets()))

    def iter_outlets(self) -> Iterator[BaseAsset]:
        yield self


class MultiAssetDefinition(AssetAll):
    """What ``@asset.multi`` returns: "all of its outlets", usable in schedules."""

    def __init__(self, *, function: Callable[..., Any], source: asset.multi,
                 name: str) -> None:
        super().__init__(*source.outlets)
        self.name = name
        self._function = function
        self._source = source
        self.dag = source.create_dag(default_dag_id=function.__name__)
        with self.dag:
            _instantiate_task(function, name, list(self.iter_outlets()))

    def iter_outlets(self) -> Iterator[BaseAsset]:
        yield from self.objects


class asset(_DAGFactory):
    """``@asset(schedule=..., uri=..., name=..., group=..., extra=..., watchers=...)``."""

    def __init__(self, function: Any = None, /, *, name: str | None = None, uri: Any = None,
                 group: str = "asset", extra: dict[str, Any] | None = None,
                 watchers: list[Any] | None = None, **dag_arguments: Any) -> None:
        if function is not None:
            raise located(AssetTypeError, "@asset needs its arguments: write "
                                          "@asset(schedule=...) (None to run on demand)")
        super().__init__(**dag_arguments)
        self.name = name
        self.uri = uri
        self.group = group
        self.extra = dict(extra or {})
        self.watchers = list(watchers or [])

    def __call__(self, f: Callable[..., Any]) -> AssetDefinition:
        function = _check_function(f)
        name = self.name or function.__name__
        return AssetDefinition(name=name, uri=name if self.uri is None else str(self.uri),
                               group=self.group, extra=self.extra, watchers=self.watchers,
                               function=function, source=self)

    class multi(_DAGFactory):
        """``@asset.multi(outlets=[a, b], schedule=...)``: one task, several assets."""

        def __init__(self, *, outlets: Collection[BaseAsset] | None = None,
                     **dag_arguments: Any) -> None:
            super().__init__(**dag_arguments)
            items = list(outlets or [])
            if not items:
                raise located(AssetValueError, "@asset.multi: no outlets provided")
            for i, item in enumerate(items):
                if not isinstance(item, BaseAsset):
                    raise located(AssetTypeError, f"@asset.multi outlets[{i}] is {item!r}, "
                                                  "not an asset")
            self.outlets = items

        def _decorator_name(self) -> str:
            return "asset.multi"

        def __call__(self, f: Callable[..., Any]) -> MultiAssetDefinition:
            function = _check_function(f)
            return MultiAssetDefinition(function=function, source=self, name=function.__name__)
