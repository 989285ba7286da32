"""``SUPERVISOR_COMMS`` for the real task runner: Airflow's typed requests, Leoflow's answers.

In Airflow 3 a worker's task runner never reaches the database or the API server itself:
every XCom, connection, variable and state report is a typed message (``GetXCom``,
``SetXCom``, ``GetConnection``, ``SucceedTask``...) sent through the global
``task_runner.SUPERVISOR_COMMS`` to the supervisor process, which answers it from the
server's Task Execution API. ``LeoflowComms`` is that supervisor's side, inside the same
process: it answers each request over Leoflow's channel to the agent, which holds the try's
credentials and talks to the control plane over gRPC.

What each request becomes:

* ``SetXCom`` -> a channel ``xcom_push`` (stored before the try's state is reported);
  ``GetXCom`` / ``GetXComSequenceSlice`` / ``GetXComSequenceItem`` / ``GetXComCount`` ->
  ``xcom_pull`` of this run. Values travel as the JSON Airflow's ``XCom.serialize_value``
  made (``airflow.sdk.serde``), so what is stored is what Airflow itself stores.
* ``GetConnection`` / ``GetVariable``: the control plane gives a try every connection and
  variable of its DAG's tenant as ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` in its environment,
  which Airflow's ``EnvironmentVariablesBackend`` reads before it ever asks the supervisor;
  a request that reaches here names something the tenant does not have, and is answered
  "not found" (Airflow then raises its own ``AirflowNotFoundException``/``KeyError``).
* ``MaskSecret`` -> the channel's ``mask_secret`` (the agent masks the try's log lines).
* the task state store (``Get/Set/Delete/ClearTaskStateStore``) -> the channel's
  ``task_state``; ``GetTaskRescheduleStartDate`` -> the first poke of a reschedule-mode
  sensor, which the control plane keeps (the payload's ``first_poke_at``).
* the terminal reports (``SucceedTask``, ``TaskState``, ``RetryTask``, ``RescheduleTask``,
  ``DeferTask``, ``AwaitInputTask``) and ``SkipDownstreamTasks`` are recorded; the runner turns
  them into the channel's final message once Airflow's ``finalize`` has run.
* other DAG runs (``comms_cross_dag.py``): ``TriggerDagRun``, ``GetDagRunState``,
  ``GetDRCount``, ``GetTICount``, ``GetTaskStates``, ``GetDag`` -> the channel's ``dag_runs``
  (the control plane creates or reads runs of the DAG's own tenant only).
* what Leoflow does not serve to a task (another run's XCom, variable writes, a run's
  details, previous runs and task instances) raises ``UnsupportedRequest`` naming the
  request, which fails the user's call with that message instead of answering something
  wrong.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from leoflow.sdk.asset_inlet_events import OP_ASSET_EVENTS
from leoflow.sdk.asset_state_store import OP_ASSET_STATE
from leoflow.sdk.channel import OP_XCOM_PULL, OP_XCOM_PUSH, Channel
from leoflow.sdk.real_airflow_runtime.comms_cross_dag import CrossDagRequests
from leoflow.sdk.real_airflow_runtime.comms_hitl import HitlRequests
from leoflow.sdk.secrets_masker import OP_MASK_SECRET
from leoflow.sdk.task_state import OP_TASK_STATE

TERMINAL = frozenset({"SucceedTask", "TaskState", "RetryTask", "RescheduleTask", "DeferTask",
                      "AwaitInputTask"})
IGNORED = frozenset({"SetRenderedFields", "SetRenderedMapIndex"})


class UnsupportedRequest(RuntimeError):
    """A request of the task runner that Leoflow does not answer (see the module docstring)."""


def _secret_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secret_strings(v)]
    if isinstance(value, (list, tuple, set)):
        return [s for v in value for s in _secret_strings(v)]
    return [str(value)] if value not in (None, "") else []


class LeoflowComms(HitlRequests, CrossDagRequests):
    """Answers the task runner's requests from the channel (a ``CommsDecoder`` stand-in that
    has no socket: there is no second process to talk to)."""

    socket = None

    def __init__(self, channel: Channel, *, dag_id: str, run_id: str,
                 is_mapped: Callable[[str], bool], first_poke_at: float = 0.0,
                 task_assets: Sequence[Mapping[str, Any]] = (),
                 prev_success: Mapping[str, Any] | None = None) -> None:
        self._channel = channel
        self._prev_success = dict(prev_success or {})  # the context's ``prev_success``
        # the assets the task's inlets and outlets name, as the control plane knows them
        # (FetchTask's context ``task_assets``): what GetAssetByName/Uri answer from
        self._task_assets = [dict(a) for a in task_assets]
        self._first_poke_at = first_poke_at  # epoch s of a rescheduled sensor's first poke
        self._dag_id = dag_id
        self._run_id = run_id
        self._is_mapped = is_mapped
        self._comms = importlib.import_module("airflow.sdk.execution_time.comms")
        self.terminal: Any = None  # the last terminal report the runner sent
        self.skipped: list[str] = []  # task ids of SkipDownstreamTasks

    # -- the CommsDecoder surface the runner and the SDK call ---------------------------------

    def send(self, msg: Any) -> Any:
        kind = str(getattr(msg, "type", type(msg).__name__))
        if kind in TERMINAL:
            self.terminal = msg
            return None
        if kind in IGNORED:
            return None
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            raise UnsupportedRequest(
                f"{kind}: this request of Airflow's task runner is not served to tasks run "
                "by Leoflow (docs/airflow-compat.md, 'Providers: how a task runs')")
        return handler(msg)

    async def asend(self, msg: Any) -> Any:
        return self.send(msg)

    def _get_response(self) -> Any:
        raise UnsupportedRequest("the task runner read a message it did not ask for")

    # -- XCom -------------------------------------------------------------------------------------

    def _this_run(self, msg: Any) -> None:
        if msg.dag_id != self._dag_id or msg.run_id != self._run_id or getattr(
                msg, "include_prior_dates", False):
            raise UnsupportedRequest(
                f"{msg.type}: a task reads the XComs of its own DAG run only (asked for DAG "
                f"{msg.dag_id!r}, run {msg.run_id!r}"
                f"{', include_prior_dates' if getattr(msg, 'include_prior_dates', False) else ''})")

    def _pull(self, task_id: str, key: str, map_index: int | None) -> Any:
        indexes = None if map_index is None or map_index < 0 else [map_index]
        values = self._channel.request(OP_XCOM_PULL, task_ids=[task_id], key=key,
                                       map_indexes=indexes)
        return values[0] if isinstance(values, list) and values else None

    def _sequence(self, msg: Any) -> list[Any]:
        """All values of ``msg.task_id``'s instances, in map-index order."""
        self._this_run(msg)
        value = self._pull(msg.task_id, msg.key, None)
        if self._is_mapped(msg.task_id):
            return [v for v in (value or []) if v is not None]
        return [] if value is None else [value]

    def _on_SetXCom(self, msg: Any) -> None:
        self._this_run(msg)
        self._channel.request(OP_XCOM_PUSH, key=msg.key, value=msg.value)

    def _on_GetXCom(self, msg: Any) -> Any:
        self._this_run(msg)
        value = self._pull(msg.task_id, msg.key, msg.map_index)
        return self._comms.XComResult(key=msg.key, value=value)

    def _on_GetXComSequenceSlice(self, msg: Any) -> Any:
        values = self._sequence(msg)[slice(msg.start, msg.stop, msg.step)]
        return self._comms.XComSequenceSliceResult(root=values)

    def _on_GetXComSequenceItem(self, msg: Any) -> Any:
        values = self._sequence(msg)
        if not -len(values) <= msg.offset < len(values):
            return self._error("XCOM_NOT_FOUND", key=msg.key, offset=msg.offset)
        return self._comms.XComSequenceIndexResult(root=values[msg.offset])

    def _on_GetXComCount(self, msg: Any) -> Any:
        return self._comms.XComCountResponse(len=len(self._sequence(msg)))

    def _on_DeleteXCom(self, msg: Any) -> None:
        # Airflow clears a task's own XComs before a new try runs; Leoflow's control plane
        # starts every try with none, so there is nothing to delete.
        self._this_run(msg)

    # -- connections, variables, secrets ------------------------------------------------------

    def _error(self, error: str, **detail: Any) -> Any:
        error_type = importlib.import_module("airflow.sdk.exceptions").ErrorType
        return self._comms.ErrorResponse(error=error_type(error), detail=detail)

    def _on_GetConnection(self, msg: Any) -> Any:
        return self._error("CONNECTION_NOT_FOUND", conn_id=msg.conn_id)

    def _on_GetVariable(self, msg: Any) -> Any:
        return self._error("VARIABLE_NOT_FOUND", key=msg.key)

    def _on_PutVariable(self, msg: Any) -> None:
        raise UnsupportedRequest(
            f"Variable.set({msg.key!r}): variables are read-only inside a Leoflow task; set "
            "them with the API, the CLI or the IDE, and pass data between tasks with XCom")

    _on_DeleteVariable = _on_PutVariable

    def _on_MaskSecret(self, msg: Any) -> None:
        values = _secret_strings(msg.value)
        if values:
            self._channel.request(OP_MASK_SECRET, values=values)

    # -- the task state store ------------------------------------------------------------------

    def _on_GetTaskStateStore(self, msg: Any) -> Any:
        answer = self._channel.request(OP_TASK_STATE, action="get", key=msg.key)
        if not isinstance(answer, dict) or not answer.get("found"):
            return self._error("TASK_STORE_NOT_FOUND", key=msg.key)
        return self._comms.TaskStateStoreResult(value=answer.get("value"))

    def _on_SetTaskStateStore(self, msg: Any) -> Any:
        expires = getattr(msg, "expires_at", None)
        fields: dict[str, Any] = {"never_expire": expires is None}
        if expires is not None:
            from datetime import datetime, timezone

            fields["retention_seconds"] = max(
                0.0, (expires - datetime.now(timezone.utc)).total_seconds())
        self._channel.request(OP_TASK_STATE, action="set", key=msg.key, value=msg.value,
                              **fields)
        return self._comms.OKResponse(ok=True)

    def _on_DeleteTaskStateStore(self, msg: Any) -> Any:
        self._channel.request(OP_TASK_STATE, action="delete", key=msg.key)
        return self._comms.OKResponse(ok=True)

    def _on_ClearTaskStateStore(self, msg: Any) -> Any:
        self._channel.request(OP_TASK_STATE, action="clear", key="")
        return self._comms.OKResponse(ok=True)

    # -- assets ------------------------------------------------------------------------------

    def _on_ValidateInletsAndOutlets(self, msg: Any) -> Any:
        # the control plane checks a task's assets before it starts the try (the agent
        # fails it with Airflow's error when one is inactive), so none is inactive here
        return self._comms.InactiveAssetsResult(inactive_assets=[])

    def _asset_result(self, asset: Mapping[str, Any]) -> Any:
        return self._comms.AssetResult(name=str(asset.get("name") or ""),
                                       uri=str(asset.get("uri") or ""),
                                       group=str(asset.get("group") or "asset"),
                                       extra=dict(asset.get("extra") or {}))

    def _asset_lookup(self, field: str, value: str) -> Any:
        for asset in self._task_assets:
            if asset.get(field) == value:
                return self._asset_result(asset)
        return self._error("ASSET_NOT_FOUND", **{field: value})

    def _on_GetAssetByName(self, msg: Any) -> Any:
        return self._asset_lookup("name", msg.name)

    def _on_GetAssetByUri(self, msg: Any) -> Any:
        return self._asset_lookup("uri", msg.uri)

    def _events(self, ref: dict[str, Any], msg: Any, *, limit: int | None = None) -> list[Any]:
        """The channel's ``asset_events`` of ``ref`` (the tenant's, oldest first by default)."""
        def instant(value: Any) -> str | None:
            return value.isoformat() if value is not None else None

        found = self._channel.request(
            OP_ASSET_EVENTS, ref=ref, limit=getattr(msg, "limit", None) if limit is None
            else limit, ascending=bool(getattr(msg, "ascending", True)),
            after=instant(getattr(msg, "after", None)),
            before=instant(getattr(msg, "before", None)))
        return list(found or [])

    def _events_result(self, events: list[Any]) -> Any:
        results = []
        for event in events:
            asset = dict(event.get("asset") or {})
            results.append({
                "id": int(event["id"]), "timestamp": event["timestamp"],
                "extra": event.get("extra"), "asset": {
                    "name": asset.get("name"), "uri": asset.get("uri"),
                    "group": asset.get("group") or "asset", "extra": asset.get("extra")},
                "created_dagruns": [], "source_task_id": event.get("source_task_id"),
                "source_dag_id": event.get("source_dag_id"),
                "source_run_id": event.get("source_run_id"),
                "source_map_index": event.get("source_map_index"),
                "partition_key": event.get("partition_key")})
        return self._comms.AssetEventsResult.model_validate(
            {"asset_events": results, "type": "AssetEventsResult"})

    def _on_GetAssetEventByAsset(self, msg: Any) -> Any:
        ref = {"asset_ref": {"name": msg.name} if msg.name else {"uri": msg.uri}}
        return self._events_result(self._events(ref, msg))

    def _on_GetAssetEventByAssetAlias(self, msg: Any) -> Any:
        return self._events_result(self._events({"alias": {"name": msg.alias_name}}, msg))

    def _on_GetAssetsByAlias(self, msg: Any) -> Any:
        """The assets an alias resolved to: the ones events were emitted for through it."""
        assets: dict[tuple[str, str], Any] = {}
        for event in self._events({"alias": {"name": msg.alias_name}}, msg):
            asset = dict(event.get("asset") or {})
            assets.setdefault((str(asset.get("name")), str(asset.get("uri"))),
                              self._asset_result(asset))
        return self._comms.AssetsByAliasResult(assets=list(assets.values()))

    # -- the asset state store (Airflow 3.3) -----------------------------------------------------

    def _asset_state(self, msg: Any, action: str, **fields: Any) -> Any:
        name = getattr(msg, "name", None)
        ref = {"asset_ref": {"name": name} if name else {"uri": msg.uri}}
        return self._channel.request(OP_ASSET_STATE, ref=ref, action=action, **fields)

    def _get_asset_state(self, msg: Any) -> Any:
        answer = self._asset_state(msg, "get", key=msg.key)
        if not isinstance(answer, dict) or not answer.get("found"):
            return self._error("ASSET_STORE_NOT_FOUND", key=msg.key)
        return self._comms.AssetStateStoreResult(value=answer.get("value"))

    def _set_asset_state(self, msg: Any) -> Any:
        self._asset_state(msg, "set", key=msg.key, value=msg.value)
        return self._comms.OKResponse(ok=True)

    def _delete_asset_state(self, msg: Any) -> Any:
        self._asset_state(msg, "delete", key=msg.key)
        return self._comms.OKResponse(ok=True)

    def _clear_asset_state(self, msg: Any) -> Any:
        self._asset_state(msg, "clear", key="")
        return self._comms.OKResponse(ok=True)

    _on_GetAssetStateStoreByName = _on_GetAssetStateStoreByUri = _get_asset_state
    _on_SetAssetStateStoreByName = _on_SetAssetStateStoreByUri = _set_asset_state
    _on_DeleteAssetStateStoreByName = _on_DeleteAssetStateStoreByUri = _delete_asset_state
    _on_ClearAssetStateStoreByName = _on_ClearAssetStateStoreByUri = _clear_asset_state

    def _on_GetPrevSuccessfulDagRun(self, msg: Any) -> Any:
        # the DAG's previous successful run, which the control plane put in the context
        # (all None when there is none, as Airflow's API answers)
        return self._comms.PrevSuccessfulDagRunResult.model_validate(
            {**{k: v for k, v in self._prev_success.items() if v is not None},
             "type": "PrevSuccessfulDagRunResult"})

    def _on_GetTaskRescheduleStartDate(self, msg: Any) -> Any:
        from datetime import datetime, timezone

        start = (datetime.fromtimestamp(self._first_poke_at, timezone.utc)
                 if self._first_poke_at > 0 else None)
        return self._comms.TaskRescheduleStartDate(start_date=start)

    def _on_SkipDownstreamTasks(self, msg: Any) -> None:
        for item in msg.tasks or []:
            task_id = item if isinstance(item, str) else item[0]
            self.skipped.append(str(task_id))
