"""``asset_state_store``: JSON values a task keeps with an asset across runs and DAGs.

Every read and write is a request over the channel (``asset_state``): the agent asks the
control plane with the try's own token, so only assets of the DAG's own tenant are
reachable. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from leoflow.sdk.asset_refs import Requester, ref_of

OP_ASSET_STATE = "asset_state"  # channel request (leoflow.sdk.channel's protocol)
STATE_ACTIONS = ("get", "set", "delete", "clear")


class AssetStateStoreAccessor:
    """``asset_state_store[asset]``: JSON values kept with the asset across runs and DAGs."""

    def __init__(self, ref: dict[str, Any], requester: Requester) -> None:
        self._ref = ref
        self._requester = requester

    def _call(self, action: str, key: str = "", **fields: Any) -> Any:
        if action != "clear" and (not isinstance(key, str) or not key):
            raise ValueError(f"asset_state_store keys are non-empty strings, got {key!r}")
        return self._requester.request(OP_ASSET_STATE, ref=self._ref, action=action, key=key,
                                       **fields)

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value, or ``default`` if the key does not exist."""
        answer = self._call("get", key)
        if not isinstance(answer, dict) or not answer.get("found"):
            return default
        return answer.get("value")

    def set(self, key: str, value: Any) -> None:
        """Write or overwrite the value for ``key``; ``value`` must not be ``None``."""
        if value is None:
            raise ValueError("Cannot set value as None")
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(f"asset_state_store.set({key!r}): a value of type "
                            f"{type(value).__name__} is not JSON-serializable") from None
        self._call("set", key, value=value)

    def delete(self, key: str) -> None:
        """Delete one key (nothing happens if it does not exist)."""
        self._call("delete", key)

    def clear(self) -> None:
        """Delete every key of this asset."""
        self._call("clear")

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.set(key, value)

    async def adelete(self, key: str) -> None:
        self.delete(key)

    async def aclear(self) -> None:
        self.clear()

    def __repr__(self) -> str:
        ((_kind, body),) = self._ref.items()
        if body.get("name"):
            return f"<AssetStateStoreAccessor name={body['name']!r}>"
        return f"<AssetStateStoreAccessor uri={body.get('uri')!r}>"


class AssetStateStoreAccessors:
    """``asset_state_store``: one accessor per concrete inlet or outlet of the task (aliases
    are skipped); with exactly one, ``get``/``set``/``delete``/``clear`` work directly."""

    def __init__(self, inlets: Sequence[Any], outlets: Sequence[Any],
                 requester: Requester) -> None:
        self._by_name: dict[str, AssetStateStoreAccessor] = {}
        self._by_uri: dict[str, AssetStateStoreAccessor] = {}
        for obj in [*inlets, *outlets]:
            try:
                ref = ref_of(obj)
            except TypeError:
                continue
            if "alias" in ref:
                continue
            body = next(iter(ref.values()))
            if body.get("name"):
                name = str(body["name"])
                self._by_name.setdefault(name, AssetStateStoreAccessor(
                    {"asset_ref": {"name": name}}, requester))
            else:
                uri = str(body["uri"])
                self._by_uri.setdefault(uri, AssetStateStoreAccessor(
                    {"asset_ref": {"uri": uri}}, requester))

    def __getitem__(self, key: Any) -> AssetStateStoreAccessor:
        try:
            ref = ref_of(key)
        except TypeError:
            raise TypeError("Expected Asset, AssetNameRef, or AssetUriRef; got "
                            f"{type(key).__name__}") from None
        if "alias" in ref:
            raise TypeError("Expected Asset, AssetNameRef, or AssetUriRef; got AssetAlias")
        body = next(iter(ref.values()))
        found = (self._by_name.get(str(body["name"])) if body.get("name")
                 else self._by_uri.get(str(body.get("uri"))))
        if found is None:
            raise KeyError(f"{key!r} is not in this task's inlets or outlets")
        return found

    def _single(self) -> AssetStateStoreAccessor:
        total = len(self._by_name) + len(self._by_uri)
        if total != 1:
            raise ValueError(f"Task has {total} concrete inlets and outlets — use "
                             "context['asset_state_store'][MY_ASSET] to specify which")
        return next(iter([*self._by_name.values(), *self._by_uri.values()]))

    def get(self, key: str, default: Any = None) -> Any:
        return self._single().get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._single().set(key, value)

    def delete(self, key: str) -> None:
        self._single().delete(key)

    def clear(self) -> None:
        self._single().clear()

    async def aget(self, key: str, default: Any = None) -> Any:
        return self._single().get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self._single().set(key, value)

    async def adelete(self, key: str) -> None:
        self._single().delete(key)

    async def aclear(self) -> None:
        self._single().clear()

    def __repr__(self) -> str:
        parts = [f"name={k!r}" for k in self._by_name] + [f"uri={k!r}" for k in self._by_uri]
        return f"<AssetStateStoreAccessors [{', '.join(parts)}]>"
