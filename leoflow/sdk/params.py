"""``Param``: a typed, documented DAG parameter with a default, as in Airflow."""

from __future__ import annotations

import json
from typing import Any


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()


class Param:
    """A DAG parameter: ``Param(5, type="integer", minimum=1, description="...")``.

    The keyword arguments form a JSON Schema that the control plane checks a trigger's
    params against. A ``Param`` without a default must be given when triggering.
    """

    def __init__(self, default: Any = NOTSET, description: str | None = None,
                 **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = dict(schema)

    @property
    def has_value(self) -> bool:
        return self.value is not NOTSET

    def resolve(self) -> Any:
        return None if self.value is NOTSET else self.value

    def __repr__(self) -> str:
        return f"Param({self.value!r}, schema={self.schema!r})"


def json_keys(value: Any) -> Any:
    """``value`` with every dict key made a string the way ``json.dumps`` makes it.

    Airflow keeps a Param's schema as JSON, so ``values_display={1: "One"}`` is stored (and
    shown by its UI) as ``{"1": "One"}``: a schema may use int, float, bool or None keys,
    which are written as ``"1"``, ``"1.5"``, ``"true"``, ``"null"``. Other key types are left
    as they are, for the serializer to refuse with the param's name.
    """
    if isinstance(value, dict):
        return {_json_key(k): json_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_keys(v) for v in value]
    return value


def _json_key(key: Any) -> Any:
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)
    return key
