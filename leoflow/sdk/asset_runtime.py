"""Assets while a task runs: ``outlet_events``, ``inlet_events``, ``triggering_asset_events``,
``asset_state_store``, and ``yield Metadata(...)``, with Airflow 3.3's behaviour.

What a task records for its outlets stays in the user process until the task ends: the
runner puts it in its final ``result`` message as ``outlet_events`` (a list of
``{"ref", "extra", "partition_keys", "added"}``; see ``outlet_events_message``), the agent
forwards it in ``ReportState`` and the scheduler emits the events in the transaction that
records the success. What a task reads (past events of an inlet, the asset state store) is a
request over the channel (``asset_events``, ``asset_state``): the agent asks the control
plane with the try's own token, so only assets of the DAG's own tenant are reachable.

This module puts them into a task's context (``add_asset_context``, the runner and the
agent alike) and gives an ``@asset`` function its arguments. The parts live next to it:
``asset_refs`` (references, ``AssetEvent``), ``asset_outlet_events`` (``outlet_events``,
``Metadata``), ``asset_inlet_events`` (``inlet_events``, ``triggering_asset_events``) and
``asset_state_store``.

Standard library only: this runs in the DAG's own interpreter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leoflow.sdk.asset_inlet_events import InletEventsAccessors, TriggeringAssetEventsAccessor
from leoflow.sdk.asset_outlet_events import OutletEventAccessors
from leoflow.sdk.asset_refs import AssetEvent, Requester, ref_of
from leoflow.sdk.asset_state_store import AssetStateStoreAccessors
from leoflow.sdk.context_objects import parse_datetime


def has_assets(objs: Sequence[Any]) -> bool:
    for obj in objs:
        try:
            ref_of(obj)
        except TypeError:
            continue
        return True
    return False


def add_asset_context(context: dict[str, Any], raw: Mapping[str, Any], *,
                      inlets: Sequence[Any], outlets: Sequence[Any],
                      requester: Requester | None) -> None:
    """Put the asset keys of Airflow 3.3's context into ``context`` (runner and agent alike).

    ``raw`` is the run's context JSON (``triggering_asset_events``, ``partition_key``,
    ``partition_date``); ``inlets``/``outlets`` are the task's asset objects (or their
    dag.json references)."""
    partition_key = raw.get("partition_key")
    partition_date = parse_datetime(raw.get("partition_date"))
    context["inlets"] = list(inlets)
    context["outlets"] = list(outlets)
    context["outlet_events"] = OutletEventAccessors(outlets)
    context["inlet_events"] = InletEventsAccessors(inlets, requester)
    context["triggering_asset_events"] = TriggeringAssetEventsAccessor(
        raw.get("triggering_asset_events") or ())
    context["partition_key"] = partition_key
    context["partition_date"] = partition_date
    dag_run = context.get("dag_run")
    if dag_run is not None:
        dag_run.partition_key = partition_key
        dag_run.partition_date = partition_date
        dag_run.consumed_asset_events = _consumed(raw)
    if requester is not None and has_assets([*inlets, *outlets]):
        context["asset_state_store"] = AssetStateStoreAccessors(inlets, outlets, requester)


def _consumed(raw: Mapping[str, Any]) -> list[AssetEvent]:
    return [AssetEvent({"asset": group.get("asset"), **event})
            for group in raw.get("triggering_asset_events") or ()
            for event in group.get("events") or ()]


def _asset_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def add_task_asset_context(context: dict[str, Any], raw: Mapping[str, Any], task: Any,
                           requester: Requester | None) -> None:
    """``add_asset_context`` for a task object of the DAG file (its ``inlets``/``outlets``)."""
    add_asset_context(context, raw, inlets=_asset_list(getattr(task, "inlets", None)),
                      outlets=_asset_list(getattr(task, "outlets", None)), requester=requester)


def asset_function_kwargs(task: Any, context: Mapping[str, Any],
                          raw: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of an ``@asset`` function (``task.asset_call_kwargs``): ``self`` and
    each upstream parameter are the assets of those names as the control plane knows them
    (the context's ``task_assets``), as Airflow fetches them by name."""
    known = {str(a.get("name")): a for a in raw.get("task_assets") or ()}

    def fetch(name: str) -> Any:
        found = known.get(name)
        if found is None:
            raise LookupError(f"asset {name!r} not found: the control plane knows no asset "
                              "of that name (an @asset function's parameter names an "
                              "upstream asset)")
        from leoflow.sdk.assets import Asset  # the authoring class, only for @asset tasks

        return Asset(name=str(found["name"]), uri=str(found["uri"]),
                     group=str(found.get("group") or "asset"),
                     extra=dict(found.get("extra") or {}))

    return dict(task.asset_call_kwargs(context, fetch))
