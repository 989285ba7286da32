"""``Param``: a typed, documented DAG parameter with a default, as in Airflow."""

from __future__ import annotations

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
