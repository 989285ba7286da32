"""Partition mappers, windows and wait policies of Airflow 3.3 (``from airflow.sdk import
StartOfHourMapper, RollupMapper, DayWindow, MinimumCount, ...``), as authoring objects.

A mapper turns the partition key of an upstream asset event into the partition key(s) of
the consumer's run. Here each object only checks its arguments as Airflow does at parse time
and describes itself as JSON (``to_json``); the scheduler applies the mapping. The
vocabulary (``docs/assets.md``, "Partitions"):

- mapper ``{"kind": K, "kwargs": {..., "max_downstream_keys": int | null}}`` with K one of
  ``identity``, ``start_of_hour`` / ``_day`` / ``_week`` / ``_month`` / ``_quarter`` /
  ``_year`` (kwargs ``timezone``, ``input_format``, ``output_format``), ``allowed_keys``
  (``allowed_keys``), ``fixed_key`` (``downstream_key``), ``product`` (``mappers``,
  ``delimiter``), ``chain`` (``mappers``), ``rollup`` (``upstream_mapper``, ``window``,
  ``wait_policy``), ``fan_out`` (``upstream_mapper``, ``window``, ``downstream_mapper``);
- window ``{"kind": "hour" | "day" | "week" | "month" | "quarter" | "year" | "segment",
  "kwargs": {"direction": "forward" | "backward", "segments": [...] (segment only)}}``;
- wait policy ``{"kind": "wait_for_all", "kwargs": {}}`` or
  ``{"kind": "minimum_count", "kwargs": {"n": int}}``.

Standard library only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from leoflow.sdk.assets import AssetTypeError, AssetValueError, located

DEFAULT_INPUT_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _own_class(obj: Any, what: str) -> None:
    """A subclass written by the user would carry logic that JSON cannot describe."""
    if not type(obj).__module__.startswith("leoflow."):
        raise located(AssetTypeError,
                      f"{type(obj).__name__} is a custom {what}; Leoflow runs only Airflow's "
                      f"own {what}s (see docs/assets.md, Partitions)")


# -- wait policies --------------------------------------------------------------------------
class WaitPolicy:
    """When a rollup's run starts, given the keys of its window that have arrived."""

    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        _own_class(self, "wait policy")
        return {"kind": self.kind, "kwargs": self._kwargs()}

    def _kwargs(self) -> dict[str, Any]:
        return {}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_json() == self.to_json()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self._kwargs())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs().items())
        return f"{type(self).__name__}({args})"


class WaitForAll(WaitPolicy):
    """Start only when every key of the window has arrived."""

    kind = "wait_for_all"


class MinimumCount(WaitPolicy):
    """``n > 0``: start once ``n`` keys have arrived; ``n < 0``: once at most ``-n`` are
    missing."""

    kind = "minimum_count"

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise located(AssetTypeError, f"MinimumCount(n) needs an integer, got {n!r}")
        if n == 0:
            raise located(AssetValueError,
                          "MinimumCount(0) is degenerate: n=0 would always fire, even on empty "
                          "windows. Use WaitForAll() to require every key, or MinimumCount(n) "
                          "with n != 0.")
        self.n = n

    def _kwargs(self) -> dict[str, Any]:
        return {"n": self.n}


# -- windows --------------------------------------------------------------------------------
class Window:
    """Which upstream keys make up one downstream key (rollup), or the keys one upstream key
    fans out to (fan-out)."""

    class Direction(enum.StrEnum):
        BACKWARD = "backward"
        FORWARD = "forward"

    kind: ClassVar[str] = ""
    expected_decoded_type: ClassVar[type] = str

    def __init__(self, *, direction: Window.Direction | str = Direction.FORWARD) -> None:
        try:
            self.direction = Window.Direction(direction)
        except ValueError:
            raise located(AssetValueError, f"{type(self).__name__} direction must be "
                                           f"'forward' or 'backward', got {direction!r}"
                          ) from None

    def _kwargs(self) -> dict[str, Any]:
        return {"direction": self.direction.value}

    def to_json(self) -> dict[str, Any]:
        _own_class(self, "window")
        if not self.kind:
            raise located(AssetTypeError, "Window is abstract: use HourWindow, DayWindow, "
                                          "WeekWindow, MonthWindow, QuarterWindow, YearWindow "
                                          "or SegmentWindow")
        return {"kind": self.kind, "kwargs": self._kwargs()}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._kwargs() == self._kwargs()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self._kwargs())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._kwargs()!r})"


class HourWindow(Window):
    """Sixty minute keys make one hour."""

    kind = "hour"
    expected_decoded_type = datetime


class DayWindow(Window):
    """Twenty-four hourly keys make one day."""

    kind = "day"
    expected_decoded_type = datetime


class WeekWindow(Window):
    """Seven daily keys make one week."""

    kind = "week"
    expected_decoded_type = datetime


class MonthWindow(Window):
    """Every daily key of a calendar month."""

    kind = "month"
    expected_decoded_type = datetime


class QuarterWindow(Window):
    """Three monthly keys make one quarter."""

    kind = "quarter"
    expected_decoded_type = datetime


class YearWindow(Window):
    """Twelve monthly keys make one year."""

    kind = "year"
    expected_decoded_type = datetime


class SegmentWindow(Window):
    """A fixed set of string keys (``["us", "eu", "apac"]``) that make one downstream key."""

    kind = "segment"

    def __init__(self, segments: Iterable[str], *,
                 direction: Window.Direction | str = Window.Direction.FORWARD) -> None:
        super().__init__(direction=direction)
        if isinstance(segments, str):
            raise located(AssetTypeError, "SegmentWindow takes a list of segment keys, got "
                                          f"the string {segments!r}")
        checked: list[str] = []
        for i, item in enumerate(segments):
            if not isinstance(item, str):
                raise located(AssetValueError, "SegmentWindow segment keys must be str; got "
                                               f"{type(item).__name__!r} at index {i}: {item!r}")
            if not item:
                raise located(AssetValueError, "SegmentWindow segment keys must be non-empty; "
                                               f"got an empty string at index {i}.")
            checked.append(item)
        if not checked:
            raise located(AssetValueError, "SegmentWindow requires at least one segment key; "
                                           "got an empty iterable.")
        self.segments = frozenset(checked)  # duplicates collapse, as in Airflow

    def _kwargs(self) -> dict[str, Any]:
        return {"segments": sorted(self.segments), **super()._kwargs()}


# -- mappers --------------------------------------------------------------------------------
class PartitionMapper:
    """Maps the partition key of an upstream event to the consumer run's key(s)."""

    kind: ClassVar[str] = ""
    expected_decoded_type: ClassVar[type] = str

    def __init__(self, *, max_downstream_keys: int | None = None) -> None:
        if max_downstream_keys is not None and (
                isinstance(max_downstream_keys, bool) or not isinstance(max_downstream_keys, int)
                or max_downstream_keys < 1):
            raise located(AssetValueError, "max_downstream_keys must be a positive integer or "
                                           f"None, got {max_downstream_keys!r}")
        self.max_downstream_keys = max_downstream_keys

    def _kwargs(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        _own_class(self, "partition mapper")
        if not self.kind:
            raise located(AssetTypeError, f"{type(self).__name__} is abstract: use one of "
                                          "Airflow's partition mappers")
        return {"kind": self.kind,
                "kwargs": {**self._kwargs(), "max_downstream_keys": self.max_downstream_keys}}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_json() == self.to_json()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self._kwargs())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._kwargs()!r})"


def _mapper(owner: str, field: str, value: Any) -> PartitionMapper:
    if not isinstance(value, PartitionMapper):
        raise located(AssetTypeError, f"{owner} {field} must be a partition mapper, got "
                                      f"{value!r}")
    return value


class IdentityMapper(PartitionMapper):
    """The consumer's key is the upstream key."""

    kind = "identity"


class _BaseTemporalMapper(PartitionMapper):
    """Parses the key with ``input_format`` and writes the start of its period."""

    default_output_format: ClassVar[str] = ""
    expected_decoded_type = datetime

    def __init__(self, *, timezone: Any = "UTC", input_format: str = DEFAULT_INPUT_FORMAT,
                 output_format: str | None = None,
                 max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.timezone = _timezone_name(type(self).__name__, timezone)
        for field, value in (("input_format", input_format), ("output_format", output_format)):
            if value is not None and (not isinstance(value, str) or not value):
                raise located(AssetTypeError, f"{type(self).__name__} {field} must be a "
                                              f"strftime format string, got {value!r}")
        self.input_format = input_format
        self.output_format = output_format or self.default_output_format

    def _kwargs(self) -> dict[str, Any]:
        return {"timezone": self.timezone, "input_format": self.input_format,
                "output_format": self.output_format}


def _timezone_name(owner: str, value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    for attr in ("key", "name", "zone"):
        name = getattr(value, attr, None)
        if isinstance(name, str) and name:
            return name
    raise located(AssetTypeError, f"{owner} timezone must be a time zone name such as 'UTC', "
                                  f"got {value!r}")


class StartOfHourMapper(_BaseTemporalMapper):
    """``2024-03-13T10:42:15`` → ``2024-03-13T10``."""

    kind = "start_of_hour"
    default_output_format = "%Y-%m-%dT%H"


class StartOfDayMapper(_BaseTemporalMapper):
    """``2024-03-13T10:42:15`` → ``2024-03-13``."""

    kind = "start_of_day"
    default_output_format = "%Y-%m-%d"


class StartOfWeekMapper(_BaseTemporalMapper):
    """``2024-03-13T10:42:15`` → ``2024-03-11 (W11)`` (the ISO week's Monday)."""

    kind = "start_of_week"
    default_output_format = "%Y-%m-%d (W%V)"


class StartOfMonthMapper(_BaseTemporalMapper):
    """``2024-03-13T10:42:15`` → ``2024-03``."""

    kind = "start_of_month"
    default_output_format = "%Y-%m"


class StartOfQuarterMapper(_BaseTemporalMapper):
    """``2024-03-13T10:42:15`` → ``2024-Q1``."""

    kind = "start_of_quarter"
    default_output_format = "%Y-Q{quarter}"


class StartOfYearMapper(_BaseTemporalMapper):
    """``2024-03-13T10:42:15`` → ``2024``."""

    kind = "start_of_year"
    default_output_format = "%Y"


class AllowedKeyMapper(PartitionMapper):
    """Keeps the key when it is one of ``allowed_keys`` (an event with another key starts
    nothing)."""

    kind = "allowed_keys"

    def __init__(self, allowed_keys: Iterable[str], *,
                 max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        keys = [allowed_keys] if isinstance(allowed_keys, str) else list(allowed_keys)
        if isinstance(allowed_keys, str) or not all(isinstance(k, str) for k in keys):
            raise located(AssetTypeError, "AllowedKeyMapper takes a list of key strings, got "
                                          f"{allowed_keys!r}")
        self.allowed_keys = keys

    def _kwargs(self) -> dict[str, Any]:
        return {"allowed_keys": list(self.allowed_keys)}


class FixedKeyMapper(PartitionMapper):
    """Every upstream key maps to ``downstream_key``."""

    kind = "fixed_key"

    def __init__(self, downstream_key: str, *, max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        if not downstream_key or not isinstance(downstream_key, str):
            raise located(AssetValueError, "FixedKeyMapper downstream_key must be a non-empty "
                                           f"str; got {downstream_key!r}.")
        self.downstream_key = downstream_key

    def _kwargs(self) -> dict[str, Any]:
        return {"downstream_key": self.downstream_key}


class ProductMapper(PartitionMapper):
    """Splits a composite key on ``delimiter`` and maps each part with its own mapper."""

    kind = "product"

    def __init__(self, mapper0: PartitionMapper, mapper1: PartitionMapper, /,
                 *mappers: PartitionMapper, delimiter: str = "|",
                 max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.mappers = [_mapper("ProductMapper", f"mapper {i}", m)
                        for i, m in enumerate((mapper0, mapper1, *mappers))]
        if not isinstance(delimiter, str) or not delimiter:
            raise located(AssetValueError, f"ProductMapper delimiter must be a non-empty "
                                           f"string, got {delimiter!r}")
        self.delimiter = delimiter

    def _kwargs(self) -> dict[str, Any]:
        return {"mappers": [m.to_json() for m in self.mappers], "delimiter": self.delimiter}


class ChainMapper(PartitionMapper):
    """Applies its mappers one after the other."""

    kind = "chain"

    def __init__(self, mapper0: PartitionMapper, mapper1: PartitionMapper, /,
                 *mappers: PartitionMapper, max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.mappers = [_mapper("ChainMapper", f"mapper {i}", m)
                        for i, m in enumerate((mapper0, mapper1, *mappers))]

    def _kwargs(self) -> dict[str, Any]:
        return {"mappers": [m.to_json() for m in self.mappers]}


def _window(owner: str, value: Any) -> Window:
    if not isinstance(value, Window):
        raise located(AssetTypeError, f"{owner} window must be a Window (DayWindow(), ...), "
                                      f"got {value!r}")
    return value


class RollupMapper(PartitionMapper):
    """Many upstream keys (a ``window``) → one downstream key; ``wait_policy`` says when the
    run starts."""

    kind = "rollup"

    def __init__(self, *, upstream_mapper: PartitionMapper, window: Window,
                 wait_policy: WaitPolicy | None = None,
                 max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.upstream_mapper = _mapper("RollupMapper", "upstream_mapper", upstream_mapper)
        self.window = _window("RollupMapper", window)
        if wait_policy is not None and not isinstance(wait_policy, WaitPolicy):
            raise located(AssetTypeError, "RollupMapper wait_policy must be WaitForAll() or "
                                          f"MinimumCount(n), got {wait_policy!r}")
        self.wait_policy = wait_policy or WaitForAll()
        if upstream_mapper.expected_decoded_type is not window.expected_decoded_type:
            raise located(
                AssetTypeError,
                f"{type(window).__name__} expects decoded values of type "
                f"{window.expected_decoded_type.__name__!r}, but "
                f"{type(upstream_mapper).__name__} decodes to "
                f"{upstream_mapper.expected_decoded_type.__name__!r}. Pair a window and an "
                "upstream mapper whose 'expected_decoded_type' match.")

    def _kwargs(self) -> dict[str, Any]:
        return {"upstream_mapper": self.upstream_mapper.to_json(),
                "window": self.window.to_json(), "wait_policy": self.wait_policy.to_json()}


# Airflow's FanOutMapper.default_downstream_mapper_by_window_name
_FAN_OUT_DEFAULTS: dict[str, type[_BaseTemporalMapper]] = {
    "DayWindow": StartOfHourMapper,
    "WeekWindow": StartOfDayMapper,
    "MonthWindow": StartOfDayMapper,
    "QuarterWindow": StartOfMonthMapper,
    "YearWindow": StartOfMonthMapper,
}


class FanOutMapper(PartitionMapper):
    """One upstream key → every key of its ``window`` (one run each), written by
    ``downstream_mapper`` (by default chosen from the window, as Airflow)."""

    kind = "fan_out"

    def __init__(self, *, upstream_mapper: PartitionMapper, window: Window,
                 downstream_mapper: PartitionMapper | None = None,
                 max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.upstream_mapper = _mapper("FanOutMapper", "upstream_mapper", upstream_mapper)
        self.window = _window("FanOutMapper", window)
        if downstream_mapper is None:
            default = _FAN_OUT_DEFAULTS.get(type(window).__name__)
            if default is None:
                raise located(AssetValueError,
                              f"FanOutMapper has no default downstream_mapper for window type "
                              f"{type(window).__name__}; pass downstream_mapper explicitly.")
            downstream_mapper = default()
        self.downstream_mapper = _mapper("FanOutMapper", "downstream_mapper", downstream_mapper)

    def _kwargs(self) -> dict[str, Any]:
        return {"upstream_mapper": self.upstream_mapper.to_json(),
                "window": self.window.to_json(),
                "downstream_mapper": self.downstream_mapper.to_json()}
