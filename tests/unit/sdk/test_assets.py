"""Asset authoring objects with Airflow 3.3's rules: defaults, URI normalization, equality,
conditions, references, aliases, watchers, access control, and located errors."""

from __future__ import annotations

import inspect

import pytest

from leoflow.sdk.asset_triggers import (
    BaseEventTrigger,
    DirectoryFileDeleteTrigger,
    FileDeleteTrigger,
)
from leoflow.sdk.assets import (
    Asset,
    AssetAccessControl,
    AssetAlias,
    AssetAll,
    AssetAny,
    AssetNameRef,
    AssetUriRef,
    AssetWatcher,
    Dataset,
    Metadata,
    Model,
    asset_key,
    sanitize_uri,
)
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.triggers import FileTrigger


class MyEventTrigger(BaseEventTrigger):
    def trigger_kwargs(self) -> dict[str, object]:
        return {}


def _line_of(marker: str) -> int:
    """The line of this file holding ``marker`` (where an error must point)."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text and "_line_of" not in text)


def test_name_and_uri_default_to_each_other_and_group_to_the_asset_type():
    by_uri = Asset("s3://bucket/key")
    assert (by_uri.name, by_uri.uri, by_uri.group) == ("s3://bucket/key", "s3://bucket/key",
                                                       "asset")
    by_name = Asset(name="orders")
    assert (by_name.name, by_name.uri) == ("orders", "orders")
    by_uri_keyword = Asset(uri="file://in/x.csv")
    assert by_uri_keyword.name == "file://in/x.csv"
    both = Asset(name="orders", uri="s3://w/orders", group="sales", extra=None)
    assert (both.name, both.uri, both.group, both.extra) == ("orders", "s3://w/orders",
                                                             "sales", {})
    assert Dataset("d").group == "dataset" and Model("m").group == "model"
    assert both.access_control is None and both.watchers == []


def test_uris_are_normalized_as_airflow_does():
    assert sanitize_uri("S3://bucket/path/") == "s3://bucket/path"
    assert sanitize_uri("s3://bucket/p?b=2&a=1#frag") == "s3://bucket/p?a=1&b=2"
    assert sanitize_uri("s3://bucket") == "s3://bucket/"
    assert sanitize_uri("just a name/") == "just a name/"  # not a URI: kept
    assert sanitize_uri("x-custom://Thing/") == "x-custom://Thing/"
    with pytest.warns(UserWarning, match="password"):
        assert sanitize_uri("postgres://user:pw@host/db") == "postgres://host/db"
    assert Asset("S3://Bucket/Key/").uri == "s3://Bucket/Key"


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Asset(), "requires either 'name' or 'uri'"),
    (lambda: Asset(name=""), "name cannot be empty"),
    (lambda: Asset(name="   "), "cannot be just whitespace"),
    (lambda: Asset(name="self"), "prohibited name for asset: self"),
    (lambda: Asset(name="x" * 1501), "cannot exceed 1500 characters"),
    (lambda: Asset(name=3), "name must be a string"),
    (lambda: Asset("airflow://x/y"), "scheme 'airflow' is reserved"),
    (lambda: Asset("a", extra=["not", "a", "dict"]), "extra must be a dict"),
    (lambda: Asset("a", watchers=[FileDeleteTrigger("/x")]), "AssetWatcher objects"),
    (lambda: Asset("a", access_control={"allow_global": False}), "AssetAccessControl"),
    (lambda: Asset.ref(), "expects keyword argument 'name' or 'uri'"),
    (lambda: Asset.ref(name="a", uri="b"), "either name or URI, not both"),
    (lambda: AssetAlias(""), "cannot be empty"),
    (lambda: AssetAccessControl(producer_teams=[""]), "non-empty string"),
    (lambda: AssetAccessControl(producer_teams="team"), "list of team names"),
    (lambda: AssetAccessControl(allow_global="no"), "must be a bool"),
    (lambda: AssetWatcher("w", FileTrigger("/x")), "must be an event trigger"),
    (lambda: AssetWatcher("", FileDeleteTrigger("/x")), "name cannot be empty"),
    (lambda: AssetWatcher("w", MyEventTrigger()), "MyEventTrigger is a custom trigger"),
])
def test_bad_assets_fail_with_airflows_message_at_the_users_line(make, message):
    with pytest.raises(DagDefinitionError, match=message) as info:
        make()
    assert info.value.file == __file__
    assert isinstance(info.value, (TypeError, ValueError))  # Airflow's exception types too


def test_the_error_points_at_the_line_that_made_the_asset():
    with pytest.raises(ValueError) as info:
        Asset(name="context")  # MARK-context
    assert info.value.line == _line_of("MARK-context")  # type: ignore[attr-defined]
    assert str(info.value) == (f"{__file__}:{info.value.line}: "  # type: ignore[attr-defined]
                               "prohibited name for asset: context")


def test_equality_compares_airflows_fields_and_hash_follows_name_and_uri():
    a = Asset("s3://b/k", extra={"hi": "bye"})
    assert a == Asset("s3://b/k", extra={"hi": "bye"})
    slash = Asset("s3://b/k/")  # the name is the URI as written, the uri normalized
    assert (slash.name, slash.uri) == ("s3://b/k/", "s3://b/k") and slash != Asset("s3://b/k")
    assert a != Asset("s3://b/k")  # extra differs: not equal, as in Airflow
    assert hash(a) == hash(Asset("s3://b/k"))
    assert a != Asset(name="other", uri="s3://b/k")
    assert {Asset("x"), Asset("x")} == {Asset("x")}
    assert os_fspath(a) == "s3://b/k"
    assert a.unique_key == ("s3://b/k", "s3://b/k")
    assert AssetAlias("al") == AssetAlias("al") and AssetAlias("al") != AssetAlias("al", group="g")
    assert AssetAlias("al").group == "asset"
    assert Asset.ref(name="n") == AssetNameRef("n") and Asset.ref(uri="u") == AssetUriRef("u")
    assert Asset.ref(name="n") != Asset.ref(uri="n")


def os_fspath(value: object) -> str:
    import os

    return os.fspath(value)  # type: ignore[arg-type]


def test_and_or_build_conditions_as_airflow():
    a, b, c = Asset("a"), Asset("b"), Asset("c")
    both = a & b
    assert isinstance(both, AssetAll) and both.objects == (a, b)
    assert (a & b & c).objects == (a, b, c)  # (a & b) & c flattens
    either = a | b | c
    assert isinstance(either, AssetAny) and either.objects == (a, b, c)
    mixed = a | (b & c)
    assert isinstance(mixed, AssetAny) and mixed.objects[1] == AssetAll(b, c)
    alias_or_ref = AssetAlias("al") | Asset.ref(name="r")
    assert alias_or_ref.objects == (AssetAlias("al"), AssetNameRef("r"))
    with pytest.raises(TypeError):
        a & 42  # type: ignore[operator]
    with pytest.raises(TypeError, match="expect asset expressions"):
        AssetAll(a, "b")  # type: ignore[arg-type]


def test_lookup_keys_identify_by_name_and_uri():
    assert asset_key(Asset("s3://b/k", extra={"x": 1})) == asset_key(Asset("s3://b/k"))
    assert asset_key(AssetAlias("al")) == ("alias", "al")
    assert asset_key(Asset.ref(name="n")) == ("name_ref", "n")
    assert asset_key(Asset.ref(uri="u")) == ("uri_ref", "u")
    with pytest.raises(TypeError):
        asset_key("s3://b/k")


def test_metadata_watchers_and_access_control_keep_their_arguments():
    a = Asset("a")
    meta = Metadata(a, {"rows": 3})
    assert (meta.asset, meta.extra, meta.alias) == (a, {"rows": 3}, None)
    assert Metadata(a).extra == {}
    assert Metadata(a, alias=AssetAlias("al")).alias == AssetAlias("al")
    watcher = AssetWatcher(name="w", trigger=FileDeleteTrigger(filepath="/tmp/in"))
    assert watcher.to_json() == {"name": "w", "trigger": {
        "kind": "file_delete", "kwargs": {"filepath": "/tmp/in", "poke_interval": 5.0}}}
    directory = DirectoryFileDeleteTrigger(directory="/in", filename="us.flag", poke_interval=2)
    assert directory.serialize_spec() == {"kind": "file_delete", "kwargs": {
        "directory": "/in", "filename": "us.flag", "poke_interval": 2.0}}
    with pytest.raises(ValueError, match="without a directory"):
        DirectoryFileDeleteTrigger(directory="/in", filename="a/b")
    with pytest.raises(ValueError, match="filepath"):
        FileDeleteTrigger(filepath="")
    control = AssetAccessControl(producer_teams=["analytics"], allow_global=False)
    assert control.to_json() == {"producer_teams": ["analytics"], "consumer_teams": None,
                                 "allow_global": False}
    assert AssetAccessControl().to_json() == {"producer_teams": [], "consumer_teams": None,
                                              "allow_global": True}
    # an explicit default access control equals none given, as Airflow's default
    assert Asset("a", access_control=AssetAccessControl()) == Asset("a")
