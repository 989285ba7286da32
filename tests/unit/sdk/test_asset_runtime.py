"""The run-time asset accessors of a task (leoflow.sdk.asset_runtime), with Airflow 3.3's
behaviour: outlet_events, yield Metadata, inlet_events, triggering_asset_events,
asset_state_store, the partition keys of the context."""

from __future__ import annotations

from typing import Any

import pytest

from leoflow.sdk.asset_inlet_events import OP_ASSET_EVENTS
from leoflow.sdk.asset_outlet_events import (
    OutletEventAccessors,
    outlet_events_message,
    run_callable,
)
from leoflow.sdk.asset_refs import AssetEvent, ref_of
from leoflow.sdk.asset_runtime import add_asset_context
from leoflow.sdk.asset_state_store import OP_ASSET_STATE
from leoflow.sdk.assets import Asset, AssetAlias, Metadata
from leoflow.sdk.context_objects import DagRun
from leoflow.sdk.execute_hooks import call_post_execute, hook_options

ORDERS = Asset(uri="s3://output/1.txt", name="test-asset")
ALIAS = AssetAlias("example-alias")


def _event(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": i, "asset": {"id": 1, "name": "test-asset", "uri": "s3://output/1.txt",
                               "group": "asset", "extra": {}},
            "extra": extra, "source_dag_id": "producer", "source_run_id": f"manual__{i}",
            "source_task_id": "t", "source_map_index": -1, "source_alias_name": None,
            "partition_key": None, "timestamp": f"2026-01-0{i}T00:00:00+00:00"}


class FakeChannel:
    """Answers the runner's requests as the agent would, and records them."""

    def __init__(self, events: list[dict[str, Any]] | None = None) -> None:
        self.events = events or []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.state: dict[str, Any] = {}

    def request(self, op: str, **fields: Any) -> Any:
        self.requests.append((op, fields))
        if op == OP_ASSET_EVENTS:
            return list(self.events)
        assert op == OP_ASSET_STATE
        key = fields["key"]
        if fields["action"] == "get":
            return {"found": key in self.state, "value": self.state.get(key)}
        if fields["action"] == "set":
            self.state[key] = fields["value"]
        elif fields["action"] == "delete":
            self.state.pop(key, None)
        else:
            self.state.clear()
        return None


def _context(channel: FakeChannel | None = None, *, inlets: list[Any] = (),
             outlets: list[Any] = (), raw: dict[str, Any] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"dag_run": DagRun(dag_id="d", run_id="r", run_type="manual",
                                                 conf={}, logical_date=None,
                                                 data_interval_start=None,
                                                 data_interval_end=None)}
    add_asset_context(context, raw or {}, inlets=list(inlets), outlets=list(outlets),
                      requester=channel)
    return context


def test_references_of_asset_objects_and_dag_json_refs():
    assert ref_of(ORDERS) == {"asset": {"name": "test-asset", "uri": "s3://output/1.txt",
                                        "group": "asset"}}
    assert ref_of(ALIAS) == {"alias": {"name": "example-alias", "group": "asset"}}
    assert ref_of(Asset.ref(name="x")) == {"asset_ref": {"name": "x"}}
    assert ref_of(Asset.ref(uri="s3://x")) == {"asset_ref": {"uri": "s3://x"}}
    assert ref_of({"alias": {"name": "a"}}) == {"alias": {"name": "a"}}
    with pytest.raises(TypeError, match="asset or an asset alias"):
        ref_of("s3://output/1.txt")


def test_outlet_extra_set_by_context_goes_in_the_result_message():
    context = _context(outlets=[ORDERS])
    context["outlet_events"][ORDERS].extra = {"hi": "bye"}
    assert outlet_events_message(context["outlet_events"]) == [{
        "ref": ref_of(ORDERS), "extra": {"hi": "bye"}, "partition_keys": [], "added": []}]


def test_an_untouched_accessor_set_is_an_empty_message():
    assert outlet_events_message(_context(outlets=[ORDERS])["outlet_events"]) == []


def test_alias_add_records_the_added_asset_with_its_extra():
    events = OutletEventAccessors([ALIAS])
    events[ALIAS].add(Asset("s3://bucket/my-task", extra={"a": 1}), extra={"k": "v"})
    events[ORDERS].add(Asset("s3://ignored"))  # Airflow: add() on an asset does nothing
    [alias_msg, asset_msg] = outlet_events_message(events)
    assert alias_msg["added"] == [{
        "asset": {"name": "s3://bucket/my-task", "uri": "s3://bucket/my-task",
                  "group": "asset", "extra": {"a": 1}}, "extra": {"k": "v"}}]
    assert asset_msg["added"] == []


def test_add_partitions_takes_a_key_or_a_list_and_refuses_aliases_and_blanks():
    events = OutletEventAccessors([ORDERS])
    events[ORDERS].add_partitions("us")
    events[ORDERS].add_partitions(["eu", "us", "apac"])
    assert outlet_events_message(events)[0]["partition_keys"] == ["apac", "eu", "us"]
    with pytest.raises(TypeError, match="not supported on asset alias"):
        events[ALIAS].add_partitions("us")
    with pytest.raises(ValueError, match="whitespace-only"):
        events[ORDERS].add_partitions(" ")
    with pytest.raises(ValueError, match="at most 250"):
        events[ORDERS].add_partitions("x" * 251)


def test_a_ref_to_an_outlet_reaches_the_same_accessor():
    events = OutletEventAccessors([ORDERS])
    events[Asset.ref(uri="s3://output/1.txt")].extra["a"] = 1
    events[Asset.ref(name="test-asset")].extra["b"] = 2
    assert outlet_events_message(events) == [{"ref": ref_of(ORDERS), "extra": {"a": 1, "b": 2},
                                              "partition_keys": [], "added": []}]


def test_an_extra_that_is_not_json_is_an_error_naming_the_asset():
    events = OutletEventAccessors([ORDERS])
    events[ORDERS].extra = {"when": object()}
    with pytest.raises(TypeError, match=r"asset 'test-asset'.*JSON"):
        outlet_events_message(events)


def test_yielded_metadata_become_extras_and_the_return_value_is_the_result():
    events = OutletEventAccessors([ORDERS])

    def produce():
        yield Metadata(ORDERS, {"hi": "bye"})
        yield Metadata(Asset("s3://other"), {"x": 1}, alias=ALIAS)
        yield "ignored"
        return 42

    assert run_callable(produce, [], {}, events) == 42
    messages = {next(iter(m["ref"].values()))["name"]: m for m in outlet_events_message(events)}
    assert messages["test-asset"]["extra"] == {"hi": "bye"}
    assert messages["s3://other"]["extra"] == {"x": 1}
    assert messages["example-alias"]["added"][0]["asset"]["name"] == "s3://other"


def test_post_execute_argument_runs_with_context_and_result():
    seen: list[Any] = []

    class Op:
        def __init__(self) -> None:
            self._post_execute_hook = lambda context, result: (
                seen.append(result), context["outlet_events"][ORDERS].extra.update(hi="bye"))

    context = _context(outlets=[ORDERS])
    call_post_execute(Op(), context, "last line")
    assert seen == ["last line"]
    assert outlet_events_message(context["outlet_events"])[0]["extra"] == {"hi": "bye"}
    assert hook_options(Op()) == {"post_execute": True}
    assert hook_options(object()) == {}


def test_inlet_events_are_fetched_lazily_once_and_index_and_slice_as_a_list():
    channel = FakeChannel([_event(1, hi="a"), _event(2, hi="b"), _event(3, hi="c")])
    inlet_events = _context(channel, inlets=[ORDERS])["inlet_events"]
    events = inlet_events[ORDERS]
    assert channel.requests == []
    assert events[-1].extra == {"hi": "c"}
    assert [e.extra["hi"] for e in events[:-2]] == ["a"]
    assert len(events) == 3 and isinstance(events[0], AssetEvent)
    assert len(channel.requests) == 1
    op, fields = channel.requests[0]
    assert op == OP_ASSET_EVENTS and fields["ref"] == ref_of(ORDERS)
    assert fields["ascending"] is True and fields["limit"] is None
    first = events[0]
    assert (first.source_dag_id, first.source_run_id, first.source_task_id,
            first.source_map_index) == ("producer", "manual__1", "t", -1)
    assert first.timestamp.year == 2026 and first.asset.uri == "s3://output/1.txt"


def test_inlet_events_of_no_event_fail_on_an_index_as_in_airflow():
    inlet_events = _context(FakeChannel([]), inlets=[ORDERS])["inlet_events"]
    assert list(inlet_events[ORDERS][:-2]) == []
    with pytest.raises(IndexError):
        inlet_events.for_asset(uri="s3://output/1.txt")[-1]


def test_inlet_events_lookups_by_index_name_uri_alias_and_refused_keys():
    channel = FakeChannel([_event(1)])
    inlet_events = _context(channel, inlets=[ORDERS, ALIAS])["inlet_events"]
    assert len(inlet_events[0]) == 1
    inlet_events.for_asset(name="test-asset")[0]
    inlet_events.for_asset(uri="s3://output/1.txt")[0]
    inlet_events.for_asset(name="test-asset", uri="s3://output/1.txt")[0]
    inlet_events.for_asset_alias(name="example-alias")[0]
    assert [f["ref"] for _, f in channel.requests] == [
        ref_of(ORDERS)] * 4 + [{"alias": {"name": "example-alias", "group": "asset"}}]
    with pytest.raises(KeyError):
        inlet_events[Asset("s3://output/1.txt")]  # same URI, another name: not an inlet
    with pytest.raises(KeyError):
        inlet_events.for_asset(name="nope")
    with pytest.raises(IndexError):
        inlet_events[5]
    with pytest.raises(ValueError, match="cannot both be None"):
        inlet_events.for_asset()


def test_inlet_events_query_options_reach_the_request():
    channel = FakeChannel([_event(1)])
    events = _context(channel, inlets=[ORDERS])["inlet_events"][ORDERS]
    list(events.ascending(False).limit(1).after("2026-01-01T00:00:00+00:00"))
    assert channel.requests[-1][1] | {"ref": None} == {
        "ref": None, "limit": 1, "ascending": False, "after": "2026-01-01T00:00:00+00:00",
        "before": None}


def test_triggering_asset_events_by_asset_alias_and_ref():
    event = _event(1, hi="bye") | {"source_alias_name": "example-alias"}
    raw = {"triggering_asset_events": [{"asset": {"name": "test-asset",
                                                  "uri": "s3://output/1.txt",
                                                  "group": "asset"}, "events": [event]}],
           "partition_key": "2026-01-01", "partition_date": "2026-01-01T00:00:00+00:00"}
    context = _context(raw=raw)
    triggering = context["triggering_asset_events"]
    assert [e.extra for e in triggering[ORDERS]] == [{"hi": "bye"}]
    assert triggering[ALIAS][0].source_aliases[0].name == "example-alias"
    assert triggering[Asset.ref(uri="s3://output/1.txt")][0].id == 1
    assert [a.name for a in triggering] == ["test-asset", "example-alias"]
    # iterating the mapping's items: the alias key it yields looks itself up again
    assert {key.name: [e.id for e in events] for key, events in triggering.items()} == {
        "test-asset": [1], "example-alias": [1]}
    with pytest.raises(KeyError):
        triggering[Asset("s3://elsewhere")]
    assert context["partition_key"] == "2026-01-01"
    assert context["dag_run"].partition_key == "2026-01-01"
    assert context["dag_run"].partition_date.day == 1
    assert [e.id for e in context["dag_run"].consumed_asset_events] == [1]


def test_asset_state_store_per_asset_and_single_asset_sugar():
    channel = FakeChannel()
    context = _context(channel, inlets=[ORDERS], outlets=[ORDERS, ALIAS])
    store = context["asset_state_store"]
    state = store[ORDERS]
    assert state.get("watermark", default="start") == "start"
    state.set("total_runs", state.get("total_runs", default=0) + 1)
    assert store.get("total_runs") == 1  # one concrete asset: the sugar works
    state.delete("total_runs")
    assert state.get("total_runs") is None
    state.set("a", {"b": 1})
    state.clear()
    assert channel.state == {}
    assert channel.requests[0][1]["ref"] == {"asset_ref": {"name": "test-asset"}}
    with pytest.raises(ValueError, match="None"):
        state.set("k", None)
    with pytest.raises(KeyError, match="not in this task's inlets or outlets"):
        store[Asset("s3://elsewhere")]
    with pytest.raises(TypeError, match="AssetAlias"):
        store[ALIAS]


def test_asset_state_store_needs_a_concrete_asset_and_several_need_a_key():
    assert "asset_state_store" not in _context(FakeChannel(), outlets=[])
    store = _context(FakeChannel(), inlets=[ORDERS, Asset("b")])["asset_state_store"]
    with pytest.raises(ValueError, match="2 concrete inlets and outlets"):
        store.get("k")
