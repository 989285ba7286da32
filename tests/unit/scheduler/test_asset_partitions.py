"""Partition mappers, windows and wait policies as Airflow 3.3 documents them, and the runs a
partition-aware consumer's queue makes (``scheduler.partition_mappers``,
``scheduler.asset_partitions``; pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leoflow.engine.scheduler.asset_conditions import Resolver
from leoflow.engine.scheduler.asset_partitions import (
    cron_partition_key,
    partition_date,
    plan_runs,
    ready_partitions,
)
from leoflow.engine.scheduler.partition_mappers import MapperError, mapper
from leoflow.engine.spec.model import Schedule


def M(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"kind": kind, "kwargs": kwargs}


def W(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"kind": kind, "kwargs": kwargs}


def down(kind: str, key: str, **kwargs: Any) -> list[str]:
    return mapper(M(kind, **kwargs)).to_downstream(key)


A = {"asset": {"name": "a", "uri": "s3://a", "group": "asset"}}
B = {"asset": {"name": "b", "uri": "s3://b", "group": "asset"}}
C = {"asset": {"name": "c", "uri": "s3://c", "group": "asset"}}
R = Resolver(by_name={"a": 1, "b": 2, "c": 3},
             by_uri={"s3://a": frozenset({1}), "s3://b": frozenset({2}),
                     "s3://c": frozenset({3})})


@dataclass(frozen=True)
class Q:
    event_id: int
    asset_id: int
    partition_key: str | None = None


def part(default: dict[str, Any] | None = None, **per_asset: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "assets", "default_mapper": default or M("identity"),
            "mappers": [{"ref": {"asset_ref": {"name": n}}, "mapper": m}
                        for n, m in per_asset.items()]}


# -- temporal mappers -------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "expected"), [
    ("start_of_hour", "2026-06-14T03"),
    ("start_of_day", "2026-06-14"),
    ("start_of_week", "2026-06-08 (W24)"),  # the ISO week's Monday
    ("start_of_month", "2026-06"),
    ("start_of_quarter", "2026-Q2"),
    ("start_of_year", "2026"),
])
def test_temporal_mappers_write_airflows_default_formats(kind: str, expected: str) -> None:
    assert down(kind, "2026-06-14T03:15:00") == [expected]


def test_airflow_docstring_examples() -> None:
    key = "2024-03-13T10:42:15"
    assert [down(k, key)[0] for k in ("start_of_hour", "start_of_day", "start_of_week",
                                      "start_of_month", "start_of_quarter",
                                      "start_of_year")] == [
        "2024-03-13T10", "2024-03-13", "2024-03-11 (W11)", "2024-03", "2024-Q1", "2024"]


def test_input_and_output_formats_and_timezones() -> None:
    assert down("start_of_day", "14/06/2026 03h", input_format="%d/%m/%Y %Hh",
                output_format="day=%Y%m%d") == ["day=20260614"]
    assert down("start_of_month", "2026-06-14", input_format="%Y-%m-%d") == ["2026-06"]
    # a naive key is read in the mapper's timezone; an aware one is converted to it
    assert down("start_of_day", "2026-06-14T20:00:00", timezone="Asia/Taipei") == [
        "2026-06-14"]
    assert down("start_of_day", "2026-06-14T20:00:00+0000", timezone="Asia/Taipei",
                input_format="%Y-%m-%dT%H:%M:%S%z") == ["2026-06-15"]
    with pytest.raises(ValueError, match="does not match format"):
        down("start_of_hour", "2026-06-14T03")  # the hour key is not a full timestamp


def test_other_mappers() -> None:
    assert down("identity", "anything") == ["anything"]
    assert down("allowed_keys", "eu", allowed_keys=["us", "eu"]) == ["eu"]
    with pytest.raises(ValueError, match="not in allowed keys"):
        down("allowed_keys", "mars", allowed_keys=["us", "eu"])
    assert down("fixed_key", "us", downstream_key="all_regions") == ["all_regions"]
    product = M("product", mappers=[M("identity"), M("start_of_day")], delimiter="|")
    assert mapper(product).to_downstream("us|2026-06-14T03:00:00") == ["us|2026-06-14"]
    with pytest.raises(ValueError, match="Expected 2 segments"):
        mapper(product).to_downstream("us|eu|2026-06-14T03:00:00")
    semi = M("product", mappers=[M("allowed_keys", allowed_keys=["us"]), M("start_of_year")],
             delimiter=";")
    assert mapper(semi).to_downstream("us;2026-06-14T03:00:00") == ["us;2026"]
    chain = M("chain", mappers=[M("start_of_hour", output_format="%Y-%m-%dT%H:%M:%S"),
                                M("start_of_day")])
    assert mapper(chain).to_downstream("2026-06-14T03:15:00") == ["2026-06-14"]


# -- windows, rollups, fan-outs ---------------------------------------------------------------

def rollup(upstream: dict[str, Any], window: dict[str, Any],
           wait: dict[str, Any] | None = None) -> dict[str, Any]:
    return M("rollup", upstream_mapper=upstream, window=window,
             wait_policy=wait or W("wait_for_all"))


def test_rollup_windows_expect_airflows_upstream_keys() -> None:
    day = mapper(rollup(M("start_of_day"), W("day")))
    assert day.to_downstream("2026-06-14T03:00:00") == ["2026-06-14"]
    assert sorted(day.to_upstream("2026-06-14")) == [
        f"2026-06-14T{h:02d}:00:00" for h in range(24)]
    hour = mapper(rollup(M("start_of_hour"), W("hour")))
    assert len(hour.to_upstream("2026-06-14T03")) == 60
    assert "2026-06-14T03:59:00" in hour.to_upstream("2026-06-14T03")
    week = mapper(rollup(M("start_of_week", input_format="%Y-%m-%d"), W("week")))
    assert sorted(week.to_upstream("2026-06-08 (W24)")) == [
        f"2026-06-{d:02d}" for d in range(8, 15)]
    month = mapper(rollup(M("start_of_month", input_format="%Y-%m-%d"), W("month")))
    assert len(month.to_upstream("2024-02")) == 29 and len(month.to_upstream("2026-02")) == 28
    quarter = mapper(rollup(M("start_of_quarter", input_format="%Y-%m"), W("quarter")))
    assert sorted(quarter.to_upstream("2026-Q2")) == ["2026-04", "2026-05", "2026-06"]
    year = mapper(rollup(M("start_of_year", input_format="%Y-%m"), W("year")))
    assert sorted(year.to_upstream("2026")) == [f"2026-{m:02d}" for m in range(1, 13)]
    segment = mapper(rollup(M("fixed_key", downstream_key="all"),
                            W("segment", segments=["us", "eu", "apac", "us"])))
    assert segment.to_upstream("all") == frozenset({"us", "eu", "apac"})
    # a frozen dag.json (DagSpec) holds tuples where the JSON has lists
    frozen = mapper(rollup(M("fixed_key", downstream_key="all"),
                           W("segment", segments=("us", "eu"))))
    assert frozen.to_upstream("all") == frozenset({"us", "eu"})


def test_fan_out_over_a_week_makes_seven_daily_keys_forward_and_backward() -> None:
    forward = mapper(M("fan_out", upstream_mapper=M("start_of_week"), window=W("week"),
                       max_downstream_keys=7))
    assert forward.to_downstream("2026-06-10T00:00:00") == [
        f"2026-06-{d:02d}" for d in range(8, 15)]
    backward = mapper(M("fan_out", upstream_mapper=M("start_of_week"),
                        window=W("week", direction="backward")))
    assert backward.to_downstream("2026-06-10T00:00:00") == [
        f"2026-06-{d:02d}" for d in range(2, 9)]
    # defaults per window: day -> hours, month -> days, quarter/year -> months
    by_day = mapper(M("fan_out", upstream_mapper=M("start_of_day"), window=W("day")))
    assert by_day.to_downstream("2026-06-14T05:00:00")[:2] == ["2026-06-14T00",
                                                               "2026-06-14T01"]
    by_month = mapper(M("fan_out", upstream_mapper=M("start_of_month"), window=W("month")))
    assert len(by_month.to_downstream("2024-02-10T00:00:00")) == 29
    by_year = mapper(M("fan_out", upstream_mapper=M("start_of_year"), window=W("year")))
    assert by_year.to_downstream("2026-06-14T00:00:00")[-1] == "2026-12"
    scatter = mapper(M("fan_out", upstream_mapper=M("identity"),
                       window=W("segment", segments=["us", "eu", "apac"]),
                       downstream_mapper=M("identity")))
    assert sorted(scatter.to_downstream("us")) == ["apac", "eu", "us"]


def test_month_window_backward_is_the_trailing_period_not_a_calendar_month() -> None:
    fan = mapper(M("fan_out", upstream_mapper=M("start_of_month"),
                   window=W("month", direction="backward")))
    keys = fan.to_downstream("2024-03-05T00:00:00")
    assert (keys[0], keys[-1], len(keys)) == ("2024-02-02", "2024-03-01", 29)


def test_bad_descriptions_name_the_field() -> None:
    with pytest.raises(MapperError, match="mapper: expected"):
        mapper({"kind": "start_of_decade"})
    with pytest.raises(MapperError, match=r"mapper: a day window needs an upstream mapper"):
        mapper(rollup(M("identity"), W("day")))
    with pytest.raises(MapperError, match="needs a downstream_mapper"):
        mapper(M("fan_out", upstream_mapper=M("start_of_hour"), window=W("hour")))
    with pytest.raises(MapperError, match=r"wait_policy\.kwargs\.n"):
        mapper(rollup(M("start_of_day"), W("day"), W("minimum_count", n=0)))
    with pytest.raises(MapperError, match="max_downstream_keys"):
        mapper(M("identity", max_downstream_keys=0))
    with pytest.raises(MapperError, match="unknown time zone"):
        mapper(M("start_of_day", timezone="Mars/Olympus"))


# -- the runs a queue makes -------------------------------------------------------------------

def hours(day: str, asset: int, first_id: int, count: int = 24) -> list[Q]:
    return [Q(first_id + h, asset, f"{day}T{h:02d}:00:00") for h in range(count)]


def test_rollup_with_a_day_window_waits_for_all_24_hourly_keys() -> None:
    p = part(rollup(M("start_of_day"), W("day")))
    assert ready_partitions(p, A, hours("2026-06-14", 1, 100, 23), R) == []
    plan = plan_runs(p, A, hours("2026-06-14", 1, 100, 24), R)
    assert plan.runs == [("2026-06-14", list(range(100, 124)))]
    assert sorted(plan.settled) == list(range(100, 124))
    # a key the window does not expect (minutes) counts for nothing
    odd = [*hours("2026-06-14", 1, 100, 23), Q(200, 1, "2026-06-14T23:30:00")]
    assert ready_partitions(p, A, odd, R) == []


def test_wait_policies_minimum_count() -> None:
    segments = W("segment", segments=["us", "eu", "apac"])
    two = part(rollup(M("fixed_key", downstream_key="all_regions"), segments,
                      W("minimum_count", n=2)))
    assert ready_partitions(two, A, [Q(1, 1, "us")], R) == []
    assert ready_partitions(two, A, [Q(1, 1, "us"), Q(2, 1, "eu")], R) == [
        ("all_regions", [1, 2])]
    at_most_one_missing = part(rollup(M("fixed_key", downstream_key="all_regions"), segments,
                                      W("minimum_count", n=-1)))
    assert ready_partitions(at_most_one_missing, A, [Q(1, 1, "us"), Q(2, 1, "eu")], R) == [
        ("all_regions", [1, 2])]
    unreachable = part(rollup(M("fixed_key", downstream_key="all_regions"), segments,
                              W("minimum_count", n=4)))
    plan = plan_runs(unreachable, A, [Q(1, 1, "us"), Q(2, 1, "eu"), Q(3, 1, "apac")], R)
    assert plan.runs == [] and plan.settled == []
    assert any("can never be satisfied" in p for p in plan.problems)
    wait_all = part(rollup(M("fixed_key", downstream_key="all_regions"), segments))
    assert ready_partitions(wait_all, A, [Q(1, 1, "us"), Q(2, 1, "eu")], R) == []
    assert ready_partitions(wait_all, A, [Q(1, 1, "us"), Q(2, 1, "eu"), Q(3, 1, "apac")],
                            R) == [("all_regions", [1, 2, 3])]


def test_fan_out_makes_one_run_per_day_and_honours_max_downstream_keys() -> None:
    fan = M("fan_out", upstream_mapper=M("start_of_week"), window=W("week"))
    plan = plan_runs(part(fan), A, [Q(1, 1, "2026-06-08T00:00:00")], R)
    assert [k for k, _ in plan.runs] == [f"2026-06-{d:02d}" for d in range(8, 15)]
    assert all(ids == [1] for _, ids in plan.runs) and plan.settled == [1]
    capped = M("fan_out", upstream_mapper=M("start_of_week"), window=W("week"),
               max_downstream_keys=6)
    plan = plan_runs(part(capped), A, [Q(1, 1, "2026-06-08T00:00:00")], R)
    assert plan.runs == [] and plan.settled == [1]
    assert "more than max_downstream_keys=6" in plan.problems[0]
    # the global cap (Airflow's [scheduler] partition_mapper_max_downstream_keys)
    assert plan_runs(part(fan), A, [Q(1, 1, "2026-06-08T00:00:00")], R,
                     max_downstream_keys=5).runs == []


def test_a_fan_out_event_stays_queued_until_each_of_its_keys_ran() -> None:
    # a fans out weekly -> daily; b is daily (identity): a & b runs day by day
    p = part(None, a=M("fan_out", upstream_mapper=M("start_of_week"), window=W("week")),
             b=M("start_of_day"))
    queued = [Q(1, 1, "2026-06-08T00:00:00"), Q(2, 2, "2026-06-10T06:00:00")]
    plan = plan_runs(p, {"all": [A, B]}, queued, R)
    assert plan.runs == [("2026-06-10", [1, 2])]
    assert plan.settled == [2]  # event 1 still feeds the other six days
    # next evaluation: day 10 already ran for event 1; a new b for day 10 waits for a new a
    later = [Q(1, 1, "2026-06-08T00:00:00"), Q(3, 2, "2026-06-10T07:00:00"),
             Q(4, 2, "2026-06-11T00:00:00")]
    plan = plan_runs(p, {"all": [A, B]}, later, R, fired={1: {"2026-06-10"}})
    assert plan.runs == [("2026-06-11", [1, 4])]
    assert plan.settled == [4]
    every_day = {1: {f"2026-06-{d:02d}" for d in range(8, 15)} - {"2026-06-14"}}
    plan = plan_runs(p, {"all": [A, B]}, [Q(1, 1, "2026-06-08T00:00:00"),
                                          Q(5, 2, "2026-06-14T00:00:00")], R, fired=every_day)
    assert plan.runs == [("2026-06-14", [1, 5])] and sorted(plan.settled) == [1, 5]


def test_a_and_b_per_key_waits_for_both() -> None:
    hourly = part(M("start_of_hour"))
    cond = {"all": [A, B, C]}
    queued = [Q(1, 1, "2026-06-14T03:00:00"), Q(2, 2, "2026-06-14T03:15:00"),
              Q(3, 1, "2026-06-14T04:00:00")]
    assert ready_partitions(hourly, cond, queued, R) == []
    queued.append(Q(4, 3, "2026-06-14T03:30:00"))
    plan = plan_runs(hourly, cond, queued, R)
    assert plan.runs == [("2026-06-14T03", [1, 2, 4])]
    assert sorted(plan.settled) == [1, 2, 4]  # hour 04 keeps waiting


def test_allowed_keys_reject_keys_outside_the_list() -> None:
    p = part(M("allowed_keys", allowed_keys=["us", "eu", "apac"]))
    plan = plan_runs(p, A, [Q(1, 1, "us"), Q(2, 1, "mars")], R)
    assert plan.runs == [("us", [1])]
    assert sorted(plan.settled) == [1, 2]
    assert "could not map partition_key 'mars'" in plan.problems[0]


def test_player_odds_quality_check_wont_ever_trigger() -> None:
    """Airflow's example: a StartOfYearMapper on hour keys ("%Y-%m-%dT%H") cannot parse
    them, and its keys ("%Y") would never meet the hourly mappers' anyway."""
    p = part(None, combined=M("start_of_year"), a=M("start_of_hour"), b=M("start_of_hour"))
    resolver = Resolver(by_name={"combined": 9, "a": 1, "b": 2},
                        by_uri={"s3://c": frozenset({9})})
    cond = {"all": [{"asset": {"name": "combined", "uri": "s3://c"}}, A,
                    {"asset_ref": {"name": "b"}}]}
    queued = [Q(1, 9, "2026-06-14T03"), Q(2, 1, "2026-06-14T03:00:00"),
              Q(3, 2, "2026-06-14T03:15:00"), Q(4, 9, "2026-06-14T03:00:00")]
    plan = plan_runs(p, cond, queued, resolver)
    assert plan.runs == []
    assert 1 in plan.settled and any("start_of_year" in x for x in plan.problems)


def test_mapper_per_asset_by_name_then_uri_then_default() -> None:
    p = {"kind": "assets", "default_mapper": M("start_of_day"),
         "mappers": [{"ref": {"asset": {"name": "a", "uri": "s3://a"}},
                      "mapper": M("start_of_hour")},
                     {"ref": {"asset_ref": {"uri": "s3://b"}}, "mapper": M("start_of_year")}]}
    queued = [Q(1, 1, "2026-06-14T03:00:00"), Q(2, 2, "2026-06-14T03:00:00"),
              Q(3, 3, "2026-06-14T03:00:00")]
    assert ready_partitions(p, {"any": [A, B, C]}, queued, R) == [
        ("2026-06-14T03", [1]), ("2026", [2]), ("2026-06-14", [3])]


def test_keyed_and_keyless_events() -> None:
    # a partition-aware consumer ignores events without a key (they leave the queue)
    plan = plan_runs(part(), A, [Q(1, 1), Q(2, 1, "k")], R)
    assert plan.runs == [("k", [2])] and sorted(plan.settled) == [1, 2]
    # a consumer that is not partition-aware ignores keyed events (Airflow 3.3)
    plan = plan_runs(None, A, [Q(1, 1, "k")], R)
    assert plan.runs == [] and plan.settled == [1]
    plan = plan_runs(None, A, [Q(1, 1, "k"), Q(2, 1)], R)
    assert plan.runs == [(None, [2])] and sorted(plan.settled) == [1, 2]


def test_partition_dates() -> None:
    hourly = part(M("start_of_hour"))
    assert partition_date(hourly, A, "2026-06-14T03") == datetime(2026, 6, 14, 3, tzinfo=UTC)
    assert partition_date(part(), A, "us") is None
    taipei = part(M("start_of_day", timezone="Asia/Taipei"))
    assert partition_date(taipei, A, "2026-06-14") == datetime(
        2026, 6, 14, tzinfo=ZoneInfo("Asia/Taipei"))
    product = part(M("product", mappers=[M("identity"), M("start_of_day")]))
    assert partition_date(product, A, "us|2026-06-14") == datetime(2026, 6, 14, tzinfo=UTC)
    weekly = part(rollup(M("start_of_week", input_format="%Y-%m-%d"), W("week")))
    assert partition_date(weekly, A, "2026-06-08 (W24)") == datetime(2026, 6, 8, tzinfo=UTC)
    # mappers that disagree leave it unset
    mixed = part(M("start_of_day"), b=M("start_of_month", output_format="%Y-%m-%d"))
    assert partition_date(mixed, {"all": [A, B]}, "2026-06-14") is None
    assert partition_date(None, A, "2026-06-14") is None


def test_cron_partition_keys_apply_run_offset() -> None:
    tick = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    sched = Schedule(kind="cron", cron="0 0 * * *", partition={"kind": "cron", "run_offset": -1})
    assert cron_partition_key(sched, tick) == "2026-03-01T00:00:00"
    later = Schedule(kind="cron", cron="@daily", partition={"kind": "cron", "run_offset": 2,
                                                            "key_format": "%Y-%m-%d"})
    assert cron_partition_key(later, tick) == "2026-03-04"
    hourly = Schedule(kind="cron", cron="0 * * * *", timezone="Asia/Taipei",
                      partition={"kind": "cron", "run_offset": 1})
    assert cron_partition_key(hourly, tick - timedelta(hours=8)) == "2026-03-02T01:00:00"
