"""Assets as a DAG file names them: ``Asset``, ``AssetAlias``, ``Asset.ref``, ``&`` and ``|``.

These objects only *describe* data: which asset a task updates (``outlets``), reads
(``inlets``) or a DAG waits for (``schedule``). ``leoflow.sdk.asset_serialize`` writes them
into dag.json; the control plane keeps the events. The rules follow Airflow 3.3's
``airflow.sdk.definitions.asset``: ``Asset(uri)`` alone is named by its URI, ``Asset(name)``
alone has its name as URI, the group defaults to ``"asset"`` (``"dataset"``, ``"model"`` for
``Dataset`` and ``Model``), a URI is normalized (lower-case scheme, no trailing slash,
sorted query, no fragment, no password) and the scheme ``airflow`` is reserved.

A mistake raises an error that is both Airflow's type (``TypeError``/``ValueError``) and a
``DagDefinitionError`` naming the user's file and line. Standard library only.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import warnings
from collections.abc import Iterable
from typing import Any, ClassVar

from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.location import user_frame_location

MAX_IDENTIFIER_LENGTH = 1500
_RESERVED_NAMES = ("self", "context")


class AssetValueError(DagDefinitionError, ValueError):
    """A bad asset value (Airflow raises ``ValueError``), located in the user's file."""


class AssetTypeError(DagDefinitionError, TypeError):
    """A bad asset call (Airflow raises ``TypeError``), located in the user's file."""


def located(cls: type[DagDefinitionError], message: str) -> DagDefinitionError:
    """``cls(message)`` pointing at the innermost line of the user's code."""
    file, line = user_frame_location()
    return cls(message, file=file, line=line)


def check_identifier(kind: str, field: str, value: Any, *, empty_ok: bool = True) -> str:
    """Airflow's identifier rules: a string of at most 1500 characters, not only spaces."""
    if not isinstance(value, str):
        raise located(AssetValueError, f"{kind} {field} must be a string, got {value!r}")
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise located(AssetValueError, f"{kind} {field} cannot exceed "
                                       f"{MAX_IDENTIFIER_LENGTH} characters")
    if value and value.isspace():
        raise located(AssetValueError, f"{kind} {field} cannot be just whitespace")
    if not value and not empty_ok:
        raise located(AssetValueError, f"{kind} {field} cannot be empty")
    return value


def sanitize_uri(value: Any) -> str:
    """Normalize an asset URI as Airflow does (``_sanitize_uri``), or fail on a reserved one.

    A text without a scheme is not a URI and is kept as is. Scheme-specific normalizers of
    Airflow's providers (``s3``, ``postgres``...) are not applied: Leoflow has no providers.
    """
    uri = str(value)
    parsed = urllib.parse.urlsplit(uri)
    if not parsed.scheme and not parsed.netloc:
        return uri
    scheme = parsed.scheme.lower()
    if not scheme or scheme.startswith("x-"):
        return uri
    if scheme == "airflow":
        raise located(AssetValueError, f"Asset scheme 'airflow' is reserved (uri {uri!r})")
    netloc = parsed.netloc
    if parsed.password:
        warnings.warn("An Asset URI should not contain a password. User info has been "
                      "automatically dropped.", UserWarning, stacklevel=4)
        netloc = netloc.rpartition("@")[2]
    query = (urllib.parse.urlencode(sorted(urllib.parse.parse_qsl(parsed.query)))
             if parsed.query else "")
    parsed = parsed._replace(scheme=scheme, netloc=netloc, path=parsed.path.rstrip("/") or "/",
                             query=query, fragment="")
    return urllib.parse.urlunsplit(parsed)


class BaseAsset:
    """What ``schedule=`` accepts: an asset, an alias, a reference, or ``&``/``|`` of them."""

    def __or__(self, other: object) -> BaseAsset:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(self, other)

    def __and__(self, other: object) -> BaseAsset:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(self, other)


class AssetAccessControl:
    """Which teams' DAGs may produce events for an asset (Airflow's multi-team mode).

    Leoflow maps teams onto tenants (``docs/assets.md``); dag.json keeps every argument.
    """

    def __init__(self, producer_teams: Iterable[str] | None = None,
                 consumer_teams: Iterable[str] | None = None, allow_global: bool = True) -> None:
        self.producer_teams = _teams("producer_teams", producer_teams) or []
        self.consumer_teams = _teams("consumer_teams", consumer_teams)
        if not isinstance(allow_global, bool):
            raise located(AssetTypeError, f"AssetAccessControl allow_global must be a bool, "
                                          f"got {allow_global!r}")
        self.allow_global = allow_global

    def to_json(self) -> dict[str, Any]:
        return {"producer_teams": list(self.producer_teams),
                "consumer_teams": None if self.consumer_teams is None
                else list(self.consumer_teams),
                "allow_global": self.allow_global}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssetAccessControl):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))

    def __repr__(self) -> str:
        return (f"AssetAccessControl(producer_teams={self.producer_teams!r}, "
                f"consumer_teams={self.consumer_teams!r}, allow_global={self.allow_global!r})")


def _teams(field: str, value: Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise located(AssetTypeError, f"AssetAccessControl {field} must be a list of team "
                                      f"names, got the string {value!r}")
    teams = list(value)
    for entry in teams:
        if not isinstance(entry, str) or not entry or entry.isspace():
            raise located(AssetValueError,
                          f"Each entry in {field} must be a non-empty string, got {entry!r}")
    return teams


class AssetWatcher:
    """Watches the outside world for an asset: each event of ``trigger`` is an asset event.

    ``trigger`` is an event trigger (``FileDeleteTrigger``, ``DirectoryFileDeleteTrigger``);
    the control plane's trigger runner runs it from dag.json's description.
    """

    def __init__(self, name: str, trigger: Any) -> None:
        from leoflow.sdk.asset_triggers import BaseEventTrigger

        check_identifier("AssetWatcher", "name", name, empty_ok=False)
        if not isinstance(trigger, BaseEventTrigger):
            raise located(AssetValueError,
                          f"AssetWatcher {name!r}: the trigger must be an event trigger "
                          f"(FileDeleteTrigger, DirectoryFileDeleteTrigger), got {trigger!r}")
        if not trigger.kind:  # a user's trigger class: the control plane cannot run it
            raise located(AssetValueError,
                          f"AssetWatcher {name!r}: {type(trigger).__name__} is a custom trigger; "
                          "Leoflow's trigger runner runs FileDeleteTrigger and "
                          "DirectoryFileDeleteTrigger")
        self.name = name
        self.trigger = trigger

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "trigger": self.trigger.serialize_spec()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssetWatcher):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        return f"AssetWatcher(name={self.name!r}, trigger={self.trigger!r})"


class Asset(os.PathLike, BaseAsset):
    """A piece of data that tasks update and DAGs wait for.

    ``Asset("s3://bucket/key")`` (named by its URI), ``Asset(name="orders")`` (its URI is
    the name), or both. Two assets are equal when all of Airflow's asset fields are (name,
    URI, group, extra, watchers, access control); events and lookups match by name and URI
    (``unique_key``).
    """

    asset_type: ClassVar[str] = "asset"

    def __init__(self, name: str | None = None, uri: Any = None, *, group: str | None = None,
                 extra: dict[str, Any] | None = None,
                 watchers: list[AssetWatcher] | None = None,
                 access_control: AssetAccessControl | None = None) -> None:
        kind = type(self).__name__
        if name is None and uri is None:
            raise located(AssetTypeError, f"{kind}() requires either 'name' or 'uri'")
        if name is None:
            name = str(uri)
        elif uri is None:
            uri = name
        check_identifier(kind, "name", name, empty_ok=False)
        if name in _RESERVED_NAMES:
            raise located(AssetValueError, f"prohibited name for asset: {name}")
        uri = check_identifier(kind, "uri", sanitize_uri(uri), empty_ok=False)
        group = type(self).asset_type if group is None else group
        check_identifier(kind, "group", group)
        if extra is not None and not isinstance(extra, dict):
            raise located(AssetTypeError, f"{kind} {name!r}: extra must be a dict, got "
                                          f"{extra!r}")
        watchers = list(watchers or [])
        for watcher in watchers:
            if not isinstance(watcher, AssetWatcher):
                raise located(AssetTypeError, f"{kind} {name!r}: watchers must be "
                                              f"AssetWatcher objects, got {watcher!r}")
        if access_control is not None and not isinstance(access_control, AssetAccessControl):
            raise located(AssetTypeError, f"{kind} {name!r}: access_control must be an "
                                          f"AssetAccessControl, got {access_control!r}")
        self.name: str = name
        self.uri: str = uri
        self.group: str = group
        self.extra: dict[str, Any] = dict(extra or {})
        self.watchers: list[AssetWatcher] = watchers
        # None: not given (Airflow's default, AssetAccessControl(), which restricts nothing)
        self.access_control: AssetAccessControl | None = access_control

    @staticmethod
    def ref(*, name: str = "", uri: str = "") -> AssetRef:
        """A reference to an asset defined elsewhere, resolved by the control plane."""
        if name and uri:
            raise located(AssetTypeError,
                          "Asset reference must be made to either name or URI, not both")
        if name:
            return AssetNameRef(name)
        if uri:
            return AssetUriRef(uri)
        raise located(AssetTypeError, "Asset reference expects keyword argument 'name' or 'uri'")

    @property
    def unique_key(self) -> tuple[str, str]:
        """``(name, uri)``: what identifies the asset (Airflow's ``AssetUniqueKey``)."""
        return (self.name, self.uri)

    @property
    def normalized_uri(self) -> str | None:
        return None  # no provider normalizers in Leoflow (see sanitize_uri)

    def __fspath__(self) -> str:
        return self.uri

    def _fields(self) -> tuple[Any, ...]:
        return (self.name, self.uri, self.group, json.dumps(self.extra, sort_keys=True,
                                                            default=repr),
                tuple(self.watchers), self.access_control or AssetAccessControl())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Asset):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self.unique_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, group={self.group!r})"


class Dataset(Asset):
    """Airflow 2's name for an asset (group ``"dataset"``)."""

    asset_type: ClassVar[str] = "dataset"


class Model(Asset):
    """An asset that is a model (group ``"model"``)."""

    asset_type: ClassVar[str] = "model"


class AssetRef(BaseAsset):
    """A reference to an asset by name or URI; make one with ``Asset.ref(...)``."""


class AssetNameRef(AssetRef):
    def __init__(self, name: str) -> None:
        self.name = check_identifier("Asset.ref", "name", name, empty_ok=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetNameRef) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("name_ref", self.name))

    def __repr__(self) -> str:
        return f"AssetNameRef(name={self.name!r})"


class AssetUriRef(AssetRef):
    def __init__(self, uri: str) -> None:
        self.uri = check_identifier("Asset.ref", "uri", uri, empty_ok=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetUriRef) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(("uri_ref", self.uri))

    def __repr__(self) -> str:
        return f"AssetUriRef(uri={self.uri!r})"


class AssetAlias(BaseAsset):
    """A name under which a task adds events for assets it chooses while it runs
    (``outlet_events[alias].add(Asset(...))``)."""

    def __init__(self, name: str, *, group: str = "asset") -> None:
        self.name = check_identifier("AssetAlias", "name", name, empty_ok=False)
        self.group = check_identifier("AssetAlias", "group", group)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssetAlias):
            return NotImplemented
        return (self.name, self.group) == (other.name, other.group)

    def __hash__(self) -> int:
        return hash(("alias", self.name, self.group))

    def __repr__(self) -> str:
        return f"AssetAlias(name={self.name!r}, group={self.group!r})"


class AssetBooleanCondition(BaseAsset):
    """``&`` / ``|`` of assets, aliases, references and other conditions."""

    def __init__(self, *objects: BaseAsset) -> None:
        if not all(isinstance(o, BaseAsset) for o in objects):
            bad = next(o for o in objects if not isinstance(o, BaseAsset))
            raise located(AssetTypeError, f"expect asset expressions in condition, got {bad!r}")
        self.objects: tuple[BaseAsset, ...] = tuple(objects)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.objects == other.objects

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.objects))


class AssetAny(AssetBooleanCondition):
    """Any of the objects: ``a | b``."""

    def __or__(self, other: object) -> BaseAsset:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(*self.objects, other)  # (a | b) | c is a | b | c, as Airflow

    def __repr__(self) -> str:
        return f"AssetAny({', '.join(map(repr, self.objects))})"


class AssetAll(AssetBooleanCondition):
    """All of the objects: ``a & b`` (and ``schedule=[a, b]``)."""

    def __and__(self, other: object) -> BaseAsset:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(*self.objects, other)

    def __repr__(self) -> str:
        return f"AssetAll({', '.join(map(repr, self.objects))})"


class Metadata:
    """``yield Metadata(asset, {"k": "v"})`` from a task: the extra of the asset's event
    (through ``alias`` when the event is added by an alias)."""

    def __init__(self, asset: Asset, extra: dict[str, Any] | None = None,
                 alias: AssetAlias | None = None) -> None:
        self.asset = asset
        self.extra = {} if extra is None else extra
        self.alias = alias

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metadata):
            return NotImplemented
        return (self.asset, self.extra, self.alias) == (other.asset, other.extra, other.alias)

    __hash__ = None  # type: ignore[assignment]  # mutable, as Airflow's

    def __repr__(self) -> str:
        return f"Metadata(asset={self.asset!r}, extra={self.extra!r}, alias={self.alias!r})"


def asset_key(obj: Any) -> tuple[str, ...]:
    """A hashable identity of an asset-like object for lookups (``outlet_events[x]``):
    ``("asset", name, uri)``, ``("alias", name)``, ``("name_ref", name)``, ``("uri_ref", uri)``."""
    if isinstance(obj, Asset):
        return ("asset", obj.name, obj.uri)
    if isinstance(obj, AssetAlias):
        return ("alias", obj.name)
    if isinstance(obj, AssetNameRef):
        return ("name_ref", obj.name)
    if isinstance(obj, AssetUriRef):
        return ("uri_ref", obj.uri)
    raise TypeError(f"{obj!r} is not an asset, an asset alias or an asset reference")
