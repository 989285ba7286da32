"""Airflow 3.3's partition mappers, windows and wait policies, built from dag.json (pure).

dag.json describes each as ``{"kind": K, "kwargs": {...}}`` (docs/assets.md, "Partitions";
the authoring side is ``leoflow.sdk.asset_partitions``). ``mapper(json)`` builds the object
the scheduler applies:

* ``to_downstream(key)``: the consumer's key(s) for an upstream event's key (a list when the
  mapper fans out); ``ValueError`` when the key does not fit (a malformed timestamp, a key
  outside ``allowed_keys``, a product key with the wrong number of parts);
* ``to_upstream(key)`` (rollup only): every upstream key one downstream key needs;
* ``to_partition_date(key)``: the start of the period a downstream key names (``None`` for
  keys without a time meaning), Airflow's ``dag_run.partition_date``.

The behaviour follows Airflow 3.3's ``airflow.partition_mappers`` (keys are compared as
strings, exactly as Airflow compares them: a rollup over ``StartOfDayMapper`` and
``DayWindow`` expects the 24 keys ``YYYY-MM-DDTHH:00:00`` in the upstream's input format).
Built-in only: dag.json cannot carry a user's subclass, so the compiler refuses those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_INPUT_FORMAT = "%Y-%m-%dT%H:%M:%S"
DEFAULT_OUTPUT_FORMATS = {
    "start_of_hour": "%Y-%m-%dT%H",
    "start_of_day": "%Y-%m-%d",
    "start_of_week": "%Y-%m-%d (W%V)",
    "start_of_month": "%Y-%m",
    "start_of_quarter": "%Y-Q{quarter}",
    "start_of_year": "%Y",
}
# Airflow's FanOutMapper.default_downstream_mapper_by_window_name, by window kind
FAN_OUT_DEFAULTS = {"day": "start_of_hour", "week": "start_of_day", "month": "start_of_day",
                    "quarter": "start_of_month", "year": "start_of_month"}


class MapperError(ValueError):
    """A mapper description dag.json should not contain (names the path)."""


# -- wait policies ----------------------------------------------------------------------------

@dataclass(frozen=True)
class WaitPolicy:
    """``wait_for_all`` (``n is None``) or ``minimum_count`` (``n``)."""

    n: int | None = None

    def satisfied(self, matched: Iterable[str], expected: frozenset[str]) -> bool:
        """Whether a rollup's run starts, given the keys that arrived and the window's keys.

        ``WaitForAll``: every expected key arrived (an empty window holds). ``MinimumCount(n)``,
        ``n > 0``: at least ``n`` expected keys arrived, never when the window has fewer than
        ``n`` (Airflow's "unreachable"); ``n < 0``: at most ``-n`` expected keys missing."""
        got = expected & frozenset(matched)
        if self.n is None:
            return got == expected
        if self.n > 0:
            return self.n <= len(expected) and len(got) >= self.n
        return len(got) >= max(0, len(expected) + self.n)

    def unreachable(self, expected: frozenset[str]) -> bool:
        return self.n is not None and self.n > len(expected)


# -- windows ----------------------------------------------------------------------------------

def _shift_months(dt: datetime, months: int) -> datetime:
    total = dt.month - 1 + months
    return dt.replace(year=dt.year + total // 12, month=total % 12 + 1)


def _day_one(dt: datetime, kind: str) -> None:
    if dt.day != 1:
        raise ValueError(f"a {kind} window needs a period starting on day 1 of a month, got "
                         f"{dt.isoformat()}")


@dataclass(frozen=True)
class Window:
    """Which decoded upstream members make one decoded downstream period."""

    kind: str
    backward: bool = False
    segments: tuple[str, ...] = ()

    @property
    def temporal(self) -> bool:
        return self.kind != "segment"

    def members(self, start: Any) -> list[Any]:
        """The members of the period ``start`` (forward: the period starting at ``start``;
        backward: the trailing period ending at it), in time order."""
        if self.kind == "segment":
            return list(self.segments)
        step: Callable[[datetime, int], datetime]
        if self.kind == "hour":
            count, step = 60, lambda s, i: s + timedelta(minutes=i)
        elif self.kind == "day":  # naive steps: always 24, as Airflow (DST: see its docs)
            count, step = 24, lambda s, i: s + timedelta(hours=i)
        elif self.kind == "week":
            count, step = 7, lambda s, i: s + timedelta(days=i)
        elif self.kind == "month":
            _day_one(start, "month")
            if self.backward:  # (previous month's 1st, start]: not a calendar month
                prev = _shift_months(start, -1)
                return [prev + timedelta(days=i + 1) for i in range((start - prev).days)]
            days = (_shift_months(start, 1) - start).days
            return [start + timedelta(days=i) for i in range(days)]
        elif self.kind in ("quarter", "year"):
            _day_one(start, self.kind)
            count, step = (3 if self.kind == "quarter" else 12), _shift_months
        else:  # pragma: no cover - window() refuses other kinds
            raise MapperError(f"unknown window kind {self.kind!r}")
        base = step(start, -(count - 1)) if self.backward else start
        return [step(base, i) for i in range(count)]


WINDOW_KINDS = ("hour", "day", "week", "month", "quarter", "year", "segment")


def window(data: Any, path: str = "window") -> Window:
    kind, kwargs = _kind(data, path, WINDOW_KINDS)
    direction = kwargs.get("direction", "forward")
    if direction not in ("forward", "backward"):
        raise MapperError(f"{path}.kwargs.direction: 'forward' or 'backward', got {direction!r}")
    segments: tuple[str, ...] = ()
    if kind == "segment":
        raw = kwargs.get("segments")
        if not isinstance(raw, (list, tuple)) or not raw or not all(
                isinstance(s, str) and s for s in raw):
            raise MapperError(f"{path}.kwargs.segments: a non-empty list of non-empty keys, "
                              f"got {raw!r}")
        segments = tuple(sorted(set(raw)))
    return Window(kind, direction == "backward", segments)


# -- mappers ----------------------------------------------------------------------------------

WORD = r"\w+"
_DIRECTIVES = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}",
               "%S": r"\d{2}", "%V": r"\d{2}", "%U": r"\d{2}", "%W": r"\d{2}"}


def _key_pattern(fmt: str, placeholders: Mapping[str, str]) -> re.Pattern[str]:
    """A regex with a named group per strftime directive / ``{placeholder}`` of ``fmt``, to
    read back a key that ``strptime`` cannot (``%V`` without ``%G``, ``{quarter}``)."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        two = fmt[i:i + 2]
        if two in _DIRECTIVES:
            out.append(f"(?P<{two[1]}>{_DIRECTIVES[two]})")
            i += 2
            continue
        if fmt[i] == "{" and (end := fmt.find("}", i)) != -1:
            name = fmt[i + 1:end]
            pattern = placeholders.get(name, WORD)
            out.append(f"(?P<{name}>{pattern})")
            i = end + 1
            continue
        out.append(re.escape(fmt[i]))
        i += 1
    return re.compile("^" + "".join(out) + "$")


@dataclass(frozen=True)
class Mapper:
    """One partition mapper; ``kind`` says which (the dag.json kinds)."""

    kind: str
    max_downstream_keys: int | None = None
    # temporal
    timezone: str = "UTC"
    input_format: str = DEFAULT_INPUT_FORMAT
    output_format: str = ""
    # allowed_keys / fixed_key
    allowed_keys: tuple[str, ...] = ()
    downstream_key: str = ""
    # product / chain
    mappers: tuple[Mapper, ...] = ()
    delimiter: str = "|"
    # rollup / fan_out
    upstream_mapper: Mapper | None = None
    window: Window | None = None
    wait_policy: WaitPolicy = WaitPolicy()
    downstream_mapper: Mapper | None = None

    @property
    def temporal(self) -> bool:
        return self.kind in DEFAULT_OUTPUT_FORMATS

    @property
    def is_rollup(self) -> bool:
        return self.kind == "rollup"

    # the parts a rollup and a fan-out are built with (mapper() refuses either without them)
    def _upstream(self) -> Mapper:
        if self.upstream_mapper is None:
            raise MapperError(f"a {self.kind} mapper has no upstream_mapper")
        return self.upstream_mapper

    def _downstream(self) -> Mapper:
        if self.downstream_mapper is None:
            raise MapperError(f"a {self.kind} mapper has no downstream_mapper")
        return self.downstream_mapper

    def _window(self) -> Window:
        if self.window is None:
            raise MapperError(f"a {self.kind} mapper has no window")
        return self.window

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    # -- the forward direction --------------------------------------------------------------

    def to_downstream(self, key: str) -> list[str]:
        """The consumer key(s) of an upstream key, in order; ``ValueError`` when it does not
        fit."""
        if self.kind == "identity":
            return [key]
        if self.temporal:
            return [self.format(self._normalize(self._parse(key)))]
        if self.kind == "allowed_keys":
            if key not in self.allowed_keys:
                raise ValueError(f"Key {key!r} not in allowed keys {list(self.allowed_keys)}")
            return [key]
        if self.kind == "fixed_key":
            return [self.downstream_key]
        if self.kind == "product":
            parts = key.split(self.delimiter)
            if len(parts) != len(self.mappers):
                raise ValueError(f"Expected {len(self.mappers)} segments in key, got "
                                 f"{len(parts)}")
            out: list[str] = []
            for child, part in zip(self.mappers, parts, strict=True):
                mapped = child.to_downstream(part)
                if len(mapped) != 1:
                    raise ValueError(f"ProductMapper child mappers must return a single key, "
                                     f"but {child.kind} returned {len(mapped)}")
                out.append(mapped[0])
            return [self.delimiter.join(out)]
        if self.kind == "chain":
            keys = [key]
            for child in self.mappers:
                keys = [k for current in keys for k in child.to_downstream(current)]
            return keys
        if self.kind == "rollup":
            return self._upstream().to_downstream(key)
        if self.kind == "fan_out":
            upstream, downstream = self._upstream(), self._downstream()
            formatted = upstream.to_downstream(key)
            if len(formatted) != 1:
                raise ValueError("FanOutMapper.upstream_mapper must produce a single key")
            coarse = upstream.decode(formatted[0])
            return [downstream.render(m) for m in self._window().members(coarse)]
        raise MapperError(f"unknown mapper kind {self.kind!r}")  # pragma: no cover

    def _parse(self, key: str) -> datetime:
        dt = datetime.strptime(key, self.input_format)
        return dt.replace(tzinfo=self.tz) if dt.tzinfo is None else dt.astimezone(self.tz)

    def _normalize(self, dt: datetime) -> datetime:
        dt = dt.replace(microsecond=0, second=0, minute=0)
        if self.kind == "start_of_hour":
            return dt
        dt = dt.replace(hour=0)
        if self.kind == "start_of_day":
            return dt
        if self.kind == "start_of_week":
            return dt - timedelta(days=dt.weekday())
        if self.kind == "start_of_month":
            return dt.replace(day=1)
        if self.kind == "start_of_quarter":
            return dt.replace(day=1, month=(dt.month - 1) // 3 * 3 + 1)
        return dt.replace(day=1, month=1)

    def format(self, dt: datetime) -> str:
        text = dt.strftime(self.output_format)
        if self.kind == "start_of_quarter":
            text = text.replace("{quarter}", str((dt.month - 1) // 3 + 1))
        return text

    def render(self, decoded: Any) -> str:
        """A fan-out member as a downstream key (Airflow's ``_format_with``)."""
        if self.temporal:
            return self.format(decoded)
        if isinstance(decoded, datetime):
            return decoded.isoformat()
        return str(decoded)

    # -- the backward direction (rollups) ---------------------------------------------------

    def decode(self, downstream_key: str) -> Any:
        """The period start a key this mapper wrote stands for (naive, in ``timezone``);
        the key itself for mappers without a time meaning."""
        if not self.temporal:
            return downstream_key
        if self.kind in ("start_of_week", "start_of_quarter"):
            need = {"Y", "m", "d"} if self.kind == "start_of_week" else {"Y", "quarter"}
            match = _key_pattern(self.output_format, {"quarter": "[1-4]"}).search(
                downstream_key)
            if match is None or not need <= set(match.groupdict()):
                raise ValueError(f"cannot read {downstream_key!r} with output_format "
                                 f"{self.output_format!r} (it needs {sorted(need)})")
            if self.kind == "start_of_week":
                return datetime(int(match["Y"]), int(match["m"]), int(match["d"]))
            return datetime(int(match["Y"]), (int(match["quarter"]) - 1) * 3 + 1, 1)
        return datetime.strptime(downstream_key, self.output_format)

    def encode(self, decoded: Any) -> str:
        """A window member as the key an upstream producer emits (``input_format``)."""
        if not self.temporal:
            return str(decoded)
        naive: datetime = (decoded.astimezone(self.tz).replace(tzinfo=None) if decoded.tzinfo
                           else decoded)
        return naive.replace(tzinfo=self.tz).strftime(self.input_format)

    def to_upstream(self, downstream_key: str) -> frozenset[str]:
        """Every upstream key a rollup's downstream key needs."""
        if not self.is_rollup:
            raise MapperError(f"only a rollup maps a key to upstream keys, not a {self.kind}")
        upstream = self._upstream()
        start = upstream.decode(downstream_key)
        return frozenset(upstream.encode(m) for m in self._window().members(start))

    def to_partition_date(self, downstream_key: str) -> datetime | None:
        """The aware start of the period ``downstream_key`` names, or ``None``."""
        if self.temporal:
            start = self._normalize(self.decode(downstream_key))
            return start if start.tzinfo else start.replace(tzinfo=self.tz)
        if self.kind == "rollup":
            return self._upstream().to_partition_date(downstream_key)
        if self.kind == "fan_out":
            return self._downstream().to_partition_date(downstream_key)
        if self.kind == "chain":
            return self.mappers[-1].to_partition_date(downstream_key)
        if self.kind == "product":
            parts = downstream_key.split(self.delimiter)
            if len(parts) != len(self.mappers):
                return None
            dates = [d for m, p in zip(self.mappers, parts, strict=True)
                     if (d := m.to_partition_date(p)) is not None]
            return dates[0] if len(dates) == 1 else None
        return None


MAPPER_KINDS = ("identity", *DEFAULT_OUTPUT_FORMATS, "allowed_keys", "fixed_key", "product",
                "chain", "rollup", "fan_out")


def _kind(data: Any, path: str, kinds: tuple[str, ...]) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(data, Mapping) or data.get("kind") not in kinds:
        raise MapperError(f"{path}: expected {{'kind': one of {', '.join(kinds)}, 'kwargs': "
                          f"{{...}}}}, got {data!r}")
    kwargs = data.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise MapperError(f"{path}.kwargs: expected an object, got {kwargs!r}")
    return str(data["kind"]), kwargs


def mapper(data: Any, path: str = "mapper") -> Mapper:
    """Build a mapper from its dag.json description; ``MapperError`` names the bad field."""
    kind, kw = _kind(data, path, MAPPER_KINDS)
    cap = kw.get("max_downstream_keys")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise MapperError(f"{path}.kwargs.max_downstream_keys: a positive integer or null, "
                          f"got {cap!r}")
    if kind in DEFAULT_OUTPUT_FORMATS:
        tz = str(kw.get("timezone") or "UTC")
        try:
            ZoneInfo(tz)
        except (KeyError, ValueError) as exc:
            raise MapperError(f"{path}.kwargs.timezone: unknown time zone {tz!r}") from exc
        return Mapper(kind, cap, timezone=tz,
                      input_format=str(kw.get("input_format") or DEFAULT_INPUT_FORMAT),
                      output_format=str(kw.get("output_format")
                                        or DEFAULT_OUTPUT_FORMATS[kind]))
    if kind == "allowed_keys":
        keys = kw.get("allowed_keys")
        if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
            raise MapperError(f"{path}.kwargs.allowed_keys: a list of strings, got {keys!r}")
        return Mapper(kind, cap, allowed_keys=tuple(keys))
    if kind == "fixed_key":
        key = kw.get("downstream_key")
        if not isinstance(key, str) or not key:
            raise MapperError(f"{path}.kwargs.downstream_key: a non-empty string, got {key!r}")
        return Mapper(kind, cap, downstream_key=key)
    if kind in ("product", "chain"):
        children = kw.get("mappers")
        if not isinstance(children, (list, tuple)) or len(children) < 2:
            raise MapperError(f"{path}.kwargs.mappers: a list of at least two mappers")
        built = tuple(mapper(c, f"{path}.kwargs.mappers[{i}]") for i, c in enumerate(children))
        delimiter = kw.get("delimiter", "|") if kind == "product" else "|"
        if not isinstance(delimiter, str) or not delimiter:
            raise MapperError(f"{path}.kwargs.delimiter: a non-empty string, got {delimiter!r}")
        return Mapper(kind, cap, mappers=built, delimiter=delimiter)
    if kind in ("rollup", "fan_out"):
        up = mapper(kw.get("upstream_mapper"), f"{path}.kwargs.upstream_mapper")
        win = window(kw.get("window"), f"{path}.kwargs.window")
        if kind == "rollup":
            if up.temporal != win.temporal:
                raise MapperError(f"{path}: a {win.kind} window needs an upstream mapper that "
                                  f"decodes to {'a datetime' if win.temporal else 'a string'}"
                                  f", but {up.kind} does not")
            return Mapper(kind, cap, upstream_mapper=up, window=win,
                          wait_policy=_wait_policy(kw.get("wait_policy"),
                                                   f"{path}.kwargs.wait_policy"))
        down_json = kw.get("downstream_mapper")
        if down_json is None:
            if win.kind not in FAN_OUT_DEFAULTS:
                raise MapperError(f"{path}: a fan-out over a {win.kind} window needs a "
                                  "downstream_mapper")
            down_json = {"kind": FAN_OUT_DEFAULTS[win.kind], "kwargs": {}}
        down = mapper(down_json, f"{path}.kwargs.downstream_mapper")
        return Mapper(kind, cap, upstream_mapper=up, window=win, downstream_mapper=down)
    return Mapper(kind, cap)


def _wait_policy(data: Any, path: str) -> WaitPolicy:
    if data is None:
        return WaitPolicy()
    kind, kw = _kind(data, path, ("wait_for_all", "minimum_count"))
    if kind == "wait_for_all":
        return WaitPolicy()
    n = kw.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n == 0:
        raise MapperError(f"{path}.kwargs.n: a non-zero integer, got {n!r}")
    return WaitPolicy(n)
