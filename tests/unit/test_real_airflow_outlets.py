"""What a real-Airflow task recorded for its outlets (``SucceedTask.outlet_events``, as
Airflow 3.3.2's ``task_runner._serialize_outlet_events`` writes it) in Leoflow's ``result``
message (the shape ``leoflow.sdk.asset_outlet_events`` gives for a shim task)."""

from __future__ import annotations

from leoflow.sdk.real_airflow_runtime.outlets import leoflow_outlet_events


def test_asset_partition_and_alias_events_become_leoflow_outlet_events() -> None:
    events = [
        # an outlet with an extra
        {"dest_asset_key": {"name": "orders", "uri": "s3://b/orders"}, "extra": {"rows": 3}},
        # one per partition key, the extra repeated
        {"dest_asset_key": {"name": "daily", "uri": "daily"}, "extra": {},
         "partition_key": "2026-01-02"},
        {"dest_asset_key": {"name": "daily", "uri": "daily"}, "extra": {},
         "partition_key": "2026-01-01"},
        # an alias resolved to an asset at run time
        {"source_alias_name": "out", "dest_asset_key": {"name": "s3://b/x", "uri": "s3://b/x"},
         "dest_asset_extra": {"a": 1}, "extra": {"k": "v"}},
    ]
    assert leoflow_outlet_events(events) == [
        {"ref": {"asset": {"name": "orders", "uri": "s3://b/orders", "group": "asset"}},
         "extra": {"rows": 3}, "partition_keys": [], "added": []},
        {"ref": {"asset": {"name": "daily", "uri": "daily", "group": "asset"}},
         "extra": {}, "partition_keys": ["2026-01-01", "2026-01-02"], "added": []},
        {"ref": {"alias": {"name": "out", "group": ""}}, "extra": {}, "partition_keys": [],
         "added": [{"asset": {"name": "s3://b/x", "uri": "s3://b/x", "group": "asset",
                              "extra": {"a": 1}}, "extra": {"k": "v"}}]},
    ]


def test_nothing_recorded_is_no_event() -> None:
    assert leoflow_outlet_events(None) == []
    assert leoflow_outlet_events([]) == []
