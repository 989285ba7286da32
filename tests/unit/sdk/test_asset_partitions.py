"""Partition mappers, windows and wait policies: Airflow's parse-time checks and the JSON
vocabulary the scheduler reads (docs/assets.md, Partitions)."""

from __future__ import annotations

import pytest

from leoflow.sdk.asset_partitions import (
    AllowedKeyMapper,
    ChainMapper,
    DayWindow,
    FanOutMapper,
    FixedKeyMapper,
    HourWindow,
    IdentityMapper,
    MinimumCount,
    MonthWindow,
    ProductMapper,
    QuarterWindow,
    RollupMapper,
    SegmentWindow,
    StartOfDayMapper,
    StartOfHourMapper,
    StartOfMonthMapper,
    StartOfQuarterMapper,
    StartOfWeekMapper,
    StartOfYearMapper,
    WaitForAll,
    WeekWindow,
    Window,
    YearWindow,
)
from leoflow.sdk.asset_timetables import (
    AssetOrTimeSchedule,
    CronPartitionTimetable,
    PartitionedAssetTimetable,
)
from leoflow.sdk.assets import Asset, AssetAll
from leoflow.sdk.errors import DagDefinitionError

ISO = "%Y-%m-%dT%H:%M:%S"


def temporal(kind: str, output: str, **over: object) -> dict[str, object]:
    return {"kind": kind, "kwargs": {"timezone": "UTC", "input_format": ISO,
                                     "output_format": output, "max_downstream_keys": None,
                                     **over}}


def test_temporal_mappers_fill_airflows_default_output_formats():
    assert StartOfHourMapper().to_json() == temporal("start_of_hour", "%Y-%m-%dT%H")
    assert StartOfDayMapper().to_json() == temporal("start_of_day", "%Y-%m-%d")
    assert StartOfWeekMapper().to_json() == temporal("start_of_week", "%Y-%m-%d (W%V)")
    assert StartOfMonthMapper(input_format="%Y-%m-%d").to_json() == temporal(
        "start_of_month", "%Y-%m", input_format="%Y-%m-%d")
    assert StartOfQuarterMapper().to_json() == temporal("start_of_quarter", "%Y-Q{quarter}")
    assert StartOfYearMapper(timezone="Europe/Paris", output_format="Y%Y",
                             max_downstream_keys=3).to_json() == temporal(
        "start_of_year", "Y%Y", timezone="Europe/Paris", max_downstream_keys=3)


def test_key_mappers_keep_every_argument():
    assert IdentityMapper().to_json() == {"kind": "identity",
                                          "kwargs": {"max_downstream_keys": None}}
    assert AllowedKeyMapper(["us", "eu"]).to_json() == {
        "kind": "allowed_keys", "kwargs": {"allowed_keys": ["us", "eu"],
                                           "max_downstream_keys": None}}
    assert FixedKeyMapper("all").to_json()["kwargs"]["downstream_key"] == "all"
    product = ProductMapper(IdentityMapper(), StartOfDayMapper(), delimiter=":")
    assert product.to_json() == {"kind": "product", "kwargs": {
        "mappers": [IdentityMapper().to_json(), StartOfDayMapper().to_json()],
        "delimiter": ":", "max_downstream_keys": None}}
    chain = ChainMapper(StartOfHourMapper(), StartOfDayMapper(), IdentityMapper())
    assert [m["kind"] for m in chain.to_json()["kwargs"]["mappers"]] == [
        "start_of_hour", "start_of_day", "identity"]


def test_rollup_and_fan_out_nest_mappers_windows_and_wait_policies():
    rollup = RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow(),
                          wait_policy=WaitForAll())
    assert rollup.to_json() == {"kind": "rollup", "kwargs": {
        "upstream_mapper": StartOfDayMapper().to_json(),
        "window": {"kind": "day", "kwargs": {"direction": "forward"}},
        "wait_policy": {"kind": "wait_for_all", "kwargs": {}},
        "max_downstream_keys": None}}
    early = RollupMapper(upstream_mapper=FixedKeyMapper("all_regions"),
                         window=SegmentWindow(["us", "eu", "apac", "us"]),
                         wait_policy=MinimumCount(-1))
    assert early.to_json()["kwargs"]["window"] == {
        "kind": "segment", "kwargs": {"segments": ["apac", "eu", "us"], "direction": "forward"}}
    assert early.to_json()["kwargs"]["wait_policy"] == {"kind": "minimum_count",
                                                        "kwargs": {"n": -1}}
    assert RollupMapper(upstream_mapper=StartOfMonthMapper(),
                        window=MonthWindow()).wait_policy == WaitForAll()
    fan = FanOutMapper(upstream_mapper=StartOfWeekMapper(),
                       window=WeekWindow(direction=Window.Direction.BACKWARD),
                       max_downstream_keys=7)
    assert fan.to_json() == {"kind": "fan_out", "kwargs": {
        "upstream_mapper": StartOfWeekMapper().to_json(),
        "window": {"kind": "week", "kwargs": {"direction": "backward"}},
        "downstream_mapper": StartOfDayMapper().to_json(),  # Airflow's default for a week
        "max_downstream_keys": 7}}
    defaults = {DayWindow: "start_of_hour", MonthWindow: "start_of_day",
                QuarterWindow: "start_of_month", YearWindow: "start_of_month"}
    for window, kind in defaults.items():
        mapper = FanOutMapper(upstream_mapper=StartOfDayMapper(), window=window())
        assert mapper.downstream_mapper.to_json()["kind"] == kind
    segment_fan = FanOutMapper(upstream_mapper=IdentityMapper(), window=SegmentWindow(["a"]),
                               downstream_mapper=IdentityMapper())
    assert segment_fan.to_json()["kwargs"]["downstream_mapper"]["kind"] == "identity"


@pytest.mark.parametrize(("make", "message"), [
    (lambda: MinimumCount(0), "MinimumCount\\(0\\) is degenerate"),
    (lambda: MinimumCount(1.5), "needs an integer"),
    (lambda: RollupMapper(upstream_mapper=IdentityMapper(), window=DayWindow()),
     "DayWindow expects decoded values of type 'datetime', but IdentityMapper decodes to "
     "'str'"),
    (lambda: RollupMapper(upstream_mapper=StartOfDayMapper(), window=SegmentWindow(["a"])),
     "SegmentWindow expects decoded values of type 'str'"),
    (lambda: RollupMapper(upstream_mapper=StartOfDayMapper(), window="day"), "must be a Window"),
    (lambda: RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow(),
                          wait_policy="all"), "wait_policy must be"),
    (lambda: FanOutMapper(upstream_mapper=IdentityMapper(), window=SegmentWindow(["a"])),
     "no default downstream_mapper for window type SegmentWindow"),
    (lambda: FanOutMapper(upstream_mapper=StartOfHourMapper(), window=HourWindow()),
     "no default downstream_mapper for window type HourWindow"),
    (lambda: SegmentWindow([]), "at least one segment key"),
    (lambda: SegmentWindow(["a", ""]), "got an empty string at index 1"),
    (lambda: SegmentWindow(["a", 2]), "must be str; got 'int' at index 1"),
    (lambda: SegmentWindow("us"), "list of segment keys"),
    (lambda: DayWindow(direction="sideways"), "'forward' or 'backward'"),
    (lambda: FixedKeyMapper(""), "non-empty str"),
    (lambda: AllowedKeyMapper("us"), "list of key strings"),
    (lambda: IdentityMapper(max_downstream_keys=0), "positive integer or None"),
    (lambda: ProductMapper(IdentityMapper(), "x"), "must be a partition mapper"),
    (lambda: ProductMapper(IdentityMapper(), IdentityMapper(), delimiter=""), "delimiter"),
    (lambda: StartOfDayMapper(timezone=5), "time zone name"),
    (lambda: CronPartitionTimetable("0 * * * *", timezone="UTC", run_offset=1.5),
     "Run offset other than integer"),
    (lambda: PartitionedAssetTimetable(assets=Asset("a"),
                                       partition_mapper_config={Asset("a"): "hourly"}),
     "maps an asset"),
    (lambda: PartitionedAssetTimetable(assets=Asset("a"),
                                       partition_mapper_config={Asset("a") & Asset("b"):
                                                                IdentityMapper()}),
     "maps an asset"),
    (lambda: PartitionedAssetTimetable(assets=[Asset("a"), 3]), "assets\\[1\\] is 3"),
    (lambda: PartitionedAssetTimetable(assets=[]), "assets is empty"),
    (lambda: AssetOrTimeSchedule(timetable=None, assets=[Asset("a")]), "needs a timetable"),
])
def test_bad_partition_arguments_fail_at_parse_time_with_airflows_message(make, message):
    with pytest.raises(DagDefinitionError, match=message) as info:
        make()
    assert info.value.file == __file__


def test_user_subclasses_cannot_be_described_and_say_so():
    class MyMapper(IdentityMapper):
        pass

    class MyWindow(DayWindow):
        pass

    with pytest.raises(DagDefinitionError, match="MyMapper is a custom partition mapper"):
        MyMapper().to_json()
    with pytest.raises(DagDefinitionError, match="MyWindow is a custom window") as info:
        PartitionedAssetTimetable(assets=Asset("a"), default_partition_mapper=RollupMapper(
            upstream_mapper=StartOfDayMapper(), window=MyWindow()))
    assert info.value.file == __file__  # the schedule's line, not the compiler's


def test_timetables_keep_their_arguments():
    cron = CronPartitionTimetable("0 0 * * 1", timezone="UTC", run_offset=-1,
                                  key_format="%Y-%m-%d")
    assert (cron.cron, cron.timezone, cron.run_offset, cron.key_format) == (
        "0 0 * * 1", "UTC", -1, "%Y-%m-%d")
    a, b = Asset("a"), Asset("b")
    either = AssetOrTimeSchedule(timetable=cron, assets=[a, b])
    assert either.asset_condition == AssetAll(a, b)  # a list means all, as Airflow
    partitioned = PartitionedAssetTimetable(assets=a | b)
    assert partitioned.default_partition_mapper == IdentityMapper()
    assert partitioned.partition_mapper_config == {}
