"""Asset conditions as pure functions: which assets a condition names, and whether it holds.

A consumer's ``schedule.assets`` (dag.json, docs/assets.md) is a tree: a leaf is an asset
reference, a node ``{"all": [...]}`` (Airflow's ``&`` and a plain list) or
``{"any": [...]}`` (``|``). Leaves come in three forms:

* ``{"asset": {"name", "uri", "group"}}``: one asset, found by name (unique per tenant);
* ``{"alias": {"name"}}``: the assets the alias has resolved to at run time so far
  (``outlet_events[alias].add(asset)``); an alias that resolved to nothing holds never;
* ``{"asset_ref": {"name"}}`` or ``{"asset_ref": {"uri"}}``: ``Asset.ref(...)``, looked up
  in the tenant's assets when the condition is evaluated (unknown: holds never).

A leaf holds when at least one of its assets has a queued event, as in Airflow (an alias
behaves as ``any`` over its assets). The store-side lookups are gathered beforehand into a
``Resolver``; nothing here does I/O, so the rules are tested exhaustively
(tests/unit/scheduler/test_asset_conditions.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

LEAF_KINDS = ("asset", "alias", "asset_ref")
NODE_KINDS = ("all", "any")


class InvalidCondition(ValueError):
    """A condition that is not a tree of known leaves and nodes; names the path."""


@dataclass(frozen=True)
class Resolver:
    """What the store knows about the names a condition uses (one tenant)."""

    # asset name -> asset id
    by_name: Mapping[str, int] = field(default_factory=dict)
    # asset uri -> the ids of the assets with that uri
    by_uri: Mapping[str, frozenset[int]] = field(default_factory=dict)
    # alias name -> the ids of the assets it has resolved to
    aliases: Mapping[str, frozenset[int]] = field(default_factory=dict)


def _split(node: Any, path: str) -> tuple[str, Any]:
    if not isinstance(node, Mapping) or len(node) != 1:
        raise InvalidCondition(f"{path}: expected one of {LEAF_KINDS + NODE_KINDS} as the "
                               f"only key, got {node!r}")
    ((kind, body),) = node.items()
    if kind not in LEAF_KINDS + NODE_KINDS:
        raise InvalidCondition(f"{path}: unknown condition kind {kind!r}; expected one of "
                               f"{', '.join(LEAF_KINDS + NODE_KINDS)}")
    if kind in NODE_KINDS and not isinstance(body, (list, tuple)):
        raise InvalidCondition(f"{path}.{kind}: expected a list of conditions")
    if kind in LEAF_KINDS and not isinstance(body, Mapping):
        raise InvalidCondition(f"{path}.{kind}: expected an object")
    return kind, body


def leaves(condition: Any, path: str = "schedule.assets") -> Iterator[Mapping[str, Any]]:
    """Every leaf of the condition, depth first, in order."""
    kind, body = _split(condition, path)
    if kind in NODE_KINDS:
        for i, child in enumerate(body):
            yield from leaves(child, f"{path}.{kind}[{i}]")
    else:
        yield condition


def leaf_assets(leaf: Mapping[str, Any], resolver: Resolver) -> frozenset[int]:
    """The asset ids a leaf stands for now (empty: unresolved)."""
    ((kind, body),) = leaf.items()
    if kind == "asset":
        found = resolver.by_name.get(body.get("name") or body.get("uri") or "")
        if found is not None:
            return frozenset({found})
        return resolver.by_uri.get(body.get("uri") or "", frozenset())
    if kind == "alias":
        return resolver.aliases.get(body.get("name", ""), frozenset())
    if body.get("name") is not None:
        found = resolver.by_name.get(body["name"])
        return frozenset({found}) if found is not None else frozenset()
    return resolver.by_uri.get(body.get("uri") or "", frozenset())


def condition_assets(condition: Any, resolver: Resolver) -> frozenset[int]:
    """Every asset id the condition can currently be satisfied by."""
    found: set[int] = set()
    for leaf in leaves(condition):
        found |= leaf_assets(leaf, resolver)
    return frozenset(found)


def evaluate(condition: Any, queued: AbstractSet[int], resolver: Resolver,
             path: str = "schedule.assets") -> bool:
    """Whether the condition holds given the assets with a queued event.

    ``all`` holds when every child holds, ``any`` when one does; an empty node holds never
    (Airflow treats ``schedule=[]`` as no schedule at all, so it never fires on an event).
    """
    kind, body = _split(condition, path)
    if kind == "all":
        return bool(body) and all(evaluate(c, queued, resolver, f"{path}.all[{i}]")
                                  for i, c in enumerate(body))
    if kind == "any":
        return any(evaluate(c, queued, resolver, f"{path}.any[{i}]")
                   for i, c in enumerate(body))
    return not leaf_assets(condition, resolver).isdisjoint(queued)


def leaf_status(condition: Any, queued: AbstractSet[int],
                resolver: Resolver) -> list[tuple[Mapping[str, Any], bool]]:
    """Each leaf with whether it has a queued event: the IDE's "``a`` seen, ``b`` not yet"."""
    return [(leaf, not leaf_assets(leaf, resolver).isdisjoint(queued))
            for leaf in leaves(condition)]


def validate(condition: Any, path: str = "schedule.assets") -> None:
    """Raise ``InvalidCondition`` (naming the path) unless ``condition`` is well formed."""
    for leaf in leaves(condition, path):
        ((kind, body),) = leaf.items()
        if kind == "asset_ref" and not (body.get("name") or body.get("uri")):
            raise InvalidCondition(f"{path}: Asset.ref needs a name or a uri, got {body!r}")
        if kind in ("asset", "alias") and not (body.get("name") or body.get("uri")):
            raise InvalidCondition(f"{path}: {kind} without a name: {body!r}")
