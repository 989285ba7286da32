"""The asset condition rules (pure): every leaf form, nesting, aliases, refs, bad trees;
and the partition seam's identity case."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from leoflow.engine.scheduler.asset_conditions import (
    InvalidCondition,
    Resolver,
    condition_assets,
    evaluate,
    leaf_assets,
    leaf_status,
    leaves,
    validate,
)
from leoflow.engine.scheduler.asset_partitions import cron_partition_key, ready_partitions
from leoflow.engine.spec.model import Schedule

A = {"asset": {"name": "a", "uri": "s3://a", "group": "asset"}}
B = {"asset": {"name": "b", "uri": "s3://b", "group": "asset"}}
C = {"asset": {"name": "c", "uri": "s3://c", "group": "asset"}}
R = Resolver(by_name={"a": 1, "b": 2, "c": 3, "d": 4},
             by_uri={"s3://a": frozenset({1}), "s3://b": frozenset({2}),
                     "s3://shared": frozenset({3, 4})},
             aliases={"al": frozenset({2, 3}), "empty": frozenset()})


def subsets(items):
    return [set(c) for n in range(len(items) + 1) for c in itertools.combinations(items, n)]


@pytest.mark.parametrize("queued", subsets([1, 2, 3]))
def test_all_any_and_nesting_match_boolean_logic(queued):
    a, b, c = 1 in queued, 2 in queued, 3 in queued
    assert evaluate(A, queued, R) is a
    assert evaluate({"all": [A, B]}, queued, R) is (a and b)
    assert evaluate({"any": [A, B]}, queued, R) is (a or b)
    assert evaluate({"any": [{"all": [A, B]}, C]}, queued, R) is ((a and b) or c)
    assert evaluate({"all": [{"any": [A, B]}, C]}, queued, R) is ((a or b) and c)
    assert evaluate({"all": [A, {"all": [B, {"any": [C]}]}]}, queued, R) is (a and b and c)


def test_empty_nodes_never_hold():
    assert evaluate({"all": []}, {1, 2}, R) is False
    assert evaluate({"any": []}, {1, 2}, R) is False


def test_asset_leaves_resolve_by_name_then_uri():
    assert leaf_assets(A, R) == {1}
    assert leaf_assets({"asset": {"uri": "s3://b"}}, R) == {2}  # Asset(uri) alone
    assert leaf_assets({"asset": {"name": "x", "uri": "s3://shared"}}, R) == {3, 4}
    assert leaf_assets({"asset": {"name": "unknown", "uri": "s3://nowhere"}}, R) == set()


def test_asset_refs_resolve_by_name_or_uri_only():
    assert leaf_assets({"asset_ref": {"name": "d"}}, R) == {4}
    assert leaf_assets({"asset_ref": {"name": "nope"}}, R) == set()
    assert leaf_assets({"asset_ref": {"uri": "s3://shared"}}, R) == {3, 4}
    assert evaluate({"asset_ref": {"name": "d"}}, {4}, R)
    assert not evaluate({"asset_ref": {"name": "nope"}}, {1, 2, 3, 4}, R)


def test_an_alias_holds_on_any_asset_it_resolved_to():
    alias = {"alias": {"name": "al", "group": ""}}
    assert evaluate(alias, {2}, R) and evaluate(alias, {3}, R)
    assert not evaluate(alias, {1, 4}, R)
    assert not evaluate({"alias": {"name": "empty"}}, {1, 2, 3, 4}, R)
    assert not evaluate({"alias": {"name": "unknown"}}, {1, 2, 3, 4}, R)
    assert condition_assets({"all": [A, alias]}, R) == {1, 2, 3}


def test_leaves_and_status_in_declaration_order():
    cond = {"any": [{"all": [A, B]}, C]}
    assert list(leaves(cond)) == [A, B, C]
    assert leaf_status(cond, {2}, R) == [(A, False), (B, True), (C, False)]


@pytest.mark.parametrize("bad, where", [
    ({"both": [A]}, "unknown condition kind 'both'"),
    ({"all": A}, "schedule.assets.all: expected a list"),
    ({"all": [A, {"asset": "a"}]}, "schedule.assets.all[1].asset: expected an object"),
    ({"any": [A, {"all": [{"x": 1, "y": 2}]}]}, "schedule.assets.any[1].all[0]"),
    ("a", "schedule.assets: expected one of"),
])
def test_malformed_trees_name_the_path(bad, where):
    with pytest.raises(InvalidCondition, match=re.escape(where)):
        validate(bad)
    if not isinstance(bad, dict) or "both" in bad:
        with pytest.raises(InvalidCondition):
            evaluate(bad, {1, 2, 3}, R)  # evaluation refuses a bad root too


def test_validate_wants_names():
    validate({"all": [A, {"asset_ref": {"uri": "x"}}]})
    with pytest.raises(InvalidCondition, match=r"Asset\.ref needs a name or a uri"):
        validate({"any": [{"asset_ref": {}}]})
    with pytest.raises(InvalidCondition, match="alias without a name"):
        validate({"alias": {"group": ""}})


@dataclass(frozen=True)
class Q:
    event_id: int
    asset_id: int
    partition_key: str | None = None


def test_unpartitioned_consumers_take_every_queued_event_when_the_condition_holds():
    cond = {"all": [A, B]}
    assert ready_partitions(None, cond, [], R) == []
    assert ready_partitions(None, cond, [Q(1, 1), Q(2, 1)], R) == []
    assert ready_partitions(None, cond, [Q(1, 1), Q(2, 1), Q(3, 2)], R) == [
        (None, [1, 2, 3])]
    # an event with a partition key is for partition-aware consumers only (Airflow 3.3)
    assert ready_partitions(None, cond, [Q(1, 1), Q(2, 1), Q(3, 2, "k")], R) == []
    # a cron-partitioned or runtime-partitioned DAG is not keyed by its upstream events
    assert ready_partitions({"kind": "runtime"}, A, [Q(7, 1)], R) == [(None, [7])]


def test_identity_partitions_need_every_asset_for_the_same_key():
    part = {"kind": "assets", "default_mapper": {"kind": "identity", "kwargs": {}}}
    cond = {"all": [A, B]}
    queued = [Q(1, 1, "2026-01-01"), Q(2, 2, "2026-01-02"), Q(3, 2, "2026-01-01"),
              Q(4, 1, None), Q(5, 1, "2026-01-03")]
    assert ready_partitions(part, cond, queued, R) == [("2026-01-01", [1, 3])]
    assert ready_partitions(part, {"any": [A, B]}, queued, R) == [
        ("2026-01-01", [1, 3]), ("2026-01-02", [2]), ("2026-01-03", [5])]


def test_cron_partition_keys_as_airflow_formats_them():
    when = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    cron = Schedule(kind="cron", cron="0 0 * * *", timezone="Asia/Taipei",
                    partition={"kind": "cron"})
    assert cron_partition_key(cron, when) == "2026-03-02T00:00:00"
    custom = Schedule(kind="cron", cron="0 0 * * *", partition={"kind": "cron",
                                                               "key_format": "%Y-%m-%d"})
    assert cron_partition_key(custom, when) == "2026-03-01"
    assert cron_partition_key(Schedule(kind="cron", cron="0 0 * * *"), when) is None
    assert cron_partition_key(cron, None) is None
