"""The agent's part in assets: the runner's ``asset_events`` / ``asset_state`` requests
become ``AssetEvents`` / ``AssetState`` calls with the try's own token (the control plane
scopes them to the DAG's tenant), the runner's ``outlet_events`` go on in ``ReportState``,
and templates rendered here (``bash_command``) get the same asset context as user code.

A task whose inlets or outlets name an asset the control plane could not make active (its
URI already belongs to another asset of the tenant) fails before its code runs, without a
retry, as Airflow 3's task runner fails it (``AirflowInactiveAssetInInletOrOutletException``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from leoflow.agent.client import ControlPlaneClient
from leoflow.agent.outcome import Outcome
from leoflow.sdk.asset_inlet_events import OP_ASSET_EVENTS
from leoflow.sdk.asset_state_store import OP_ASSET_STATE, STATE_ACTIONS

INACTIVE_ERROR = "AirflowInactiveAssetInInletOrOutletException"


def _ref(message: Mapping[str, Any]) -> dict[str, Any]:
    ref = message.get("ref")
    if not isinstance(ref, dict) or len(ref) != 1:
        raise ValueError(f"an asset reference is one of {{'asset': ...}}, {{'alias': ...}}, "
                         f"{{'asset_ref': ...}}; got {ref!r}")
    return ref


async def serve_asset_request(client: ControlPlaneClient, message: Mapping[str, Any]) -> Any:
    """Answer one ``asset_events`` or ``asset_state`` request of the task runner."""
    if message.get("op") == OP_ASSET_EVENTS:
        limit = message.get("limit")
        return await client.asset_events(
            _ref(message), limit=None if limit is None else int(limit),
            ascending=bool(message.get("ascending", True)),
            after=message.get("after") or None, before=message.get("before") or None)
    action = str(message.get("action") or "")
    if action not in STATE_ACTIONS:
        raise ValueError(f"asset_state action must be one of {', '.join(STATE_ACTIONS)}, "
                         f"not {action!r}")
    found, value = await client.asset_state(_ref(message), action,
                                            str(message.get("key") or ""), message.get("value"))
    return {"found": found, "value": value} if action == "get" else None


ASSET_OPS = frozenset({OP_ASSET_EVENTS, OP_ASSET_STATE})


class LoopRequester:
    """The runner's channel as templates rendered in a worker thread see it: asset requests
    run on the agent's loop (``inlet_events`` in a ``bash_command``)."""

    def __init__(self, client: ControlPlaneClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def request(self, op: str, **fields: Any) -> Any:
        if op not in ASSET_OPS:
            raise ValueError(f"templates cannot make {op!r} requests")
        return asyncio.run_coroutine_threadsafe(
            serve_asset_request(self._client, {"op": op, **fields}), self._loop).result()


def inactive_assets_outcome(context: Mapping[str, Any]) -> Outcome | None:
    """The failure of a try whose inlets/outlets name inactive assets (None: all active)."""
    inactive = context.get("inactive_assets") or []
    if not inactive:
        return None
    names = ", ".join(f"Asset(name={a.get('name')!r}, uri={a.get('uri')!r})"
                      if a.get("name") and a.get("uri") else
                      f"Asset.ref({'name' if a.get('name') else 'uri'}="
                      f"{a.get('name') or a.get('uri')!r})" for a in inactive)
    return Outcome.failed(INACTIVE_ERROR, "Task has the following inactive assets in its "
                          f"inlets or outlets: {names}", no_retry=True)


def outlet_events_of(final: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The runner's ``outlet_events`` (a list; anything else is dropped)."""
    events = (final or {}).get("outlet_events")
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
