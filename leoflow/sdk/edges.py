"""``Label``: a name on an edge, written ``a >> Label("on error") >> b`` as in Airflow."""

from __future__ import annotations

from typing import Any

from leoflow.sdk.relations import DependencyMixin, _flatten


class Label(DependencyMixin):
    """Sits between two sides of ``>>`` and names the edges it creates."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._upstreams: list[Any] = []

    def add_upstream(self, other: Any) -> None:
        self._upstreams.extend(_flatten(other))

    def set_downstream(self, other: Any, label: str | None = None) -> None:
        for up in self._upstreams:
            up.set_downstream(other, label=label or self.label)

    def set_upstream(self, other: Any, label: str | None = None) -> None:
        self.add_upstream(other)

    def __rrshift__(self, other: Any) -> Any:
        self.add_upstream(other)
        return self

    def endpoints(self) -> list[Any]:
        raise TypeError(f"Label({self.label!r}) must stand between two tasks: a >> Label >> b")

    def __repr__(self) -> str:
        return f"Label({self.label!r})"
