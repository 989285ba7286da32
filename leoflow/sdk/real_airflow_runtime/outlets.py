"""The asset events a successful task of the real Airflow recorded, in Leoflow's words.

Airflow's runner puts what the task recorded for its outlets into ``SucceedTask.outlet_events``
(``_serialize_outlet_events``): per asset ``{"dest_asset_key": {"name", "uri"}, "extra"}``
(one per partition key, with ``partition_key``), and per alias event ``{"source_alias_name",
"dest_asset_key", "dest_asset_extra", "extra"}``. Leoflow's ``result`` message carries the
same as ``outlet_events`` of ``{"ref", "extra", "partition_keys", "added"}``
(``leoflow.sdk.asset_outlet_events``); the scheduler then emits them with the success, as
Airflow's API server does (events of the task's own outlets and aliases only).
"""

from __future__ import annotations

from typing import Any


def _asset_ref(key: Any) -> dict[str, Any]:
    key = dict(key or {})
    return {"asset": {"name": str(key.get("name") or key.get("uri") or ""),
                      "uri": str(key.get("uri") or key.get("name") or ""), "group": "asset"}}


def leoflow_outlet_events(events: Any) -> list[dict[str, Any]]:
    """``SucceedTask.outlet_events`` as the ``result`` message's ``outlet_events``."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(ref: dict[str, Any]) -> dict[str, Any]:
        ((kind, body),) = ref.items()
        key = (kind, str(body.get("name")))
        if key not in found:
            found[key] = {"ref": ref, "extra": {}, "partition_keys": [], "added": []}
        return found[key]

    for event in events or []:
        event = dict(event)
        if "source_alias_name" in event:
            alias = entry({"alias": {"name": str(event["source_alias_name"]), "group": ""}})
            asset = _asset_ref(event.get("dest_asset_key"))
            asset["asset"]["extra"] = dict(event.get("dest_asset_extra") or {})
            alias["added"].append({**asset, "extra": dict(event.get("extra") or {})})
            continue
        item = entry(_asset_ref(event.get("dest_asset_key")))
        item["extra"].update(dict(event.get("extra") or {}))
        if event.get("partition_key"):
            item["partition_keys"].append(str(event["partition_key"]))
    for item in found.values():
        item["partition_keys"] = sorted(set(item["partition_keys"]))
    return list(found.values())
