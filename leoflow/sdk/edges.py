"""``Label``: a name on an edge, ``a >> Label("on error") >> b`` or ``b << Label("x") << a``."""

from __future__ import annotations

from typing import Any

from leoflow.sdk.relations import DependencyMixin, _flatten


class Label(DependencyMixin):
    """Sits between two sides of ``>>`` (or ``<<``) and names the edges it creates.

    It remembers what was attached on each side; as soon as both sides are known, every
    upstream is connected to every downstream with this label, whichever order Python
    evaluates the chain in.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._upstreams: list[Any] = []
        self._downstreams: list[Any] = []

    def add_upstream(self, other: Any) -> None:
        new = _flatten(other)
        self._upstreams.extend(new)
        for up in new:
            for down in self._downstreams:
                up.set_downstream(down, label=self.label)

    def add_downstream(self, other: Any) -> None:
        new = _flatten(other)
        self._downstreams.extend(new)
        for up in self._upstreams:
            for down in new:
                up.set_downstream(down, label=self.label)

    def set_downstream(self, other: Any, label: str | None = None) -> None:
        self.add_downstream(other)

    def set_upstream(self, other: Any, label: str | None = None) -> None:
        self.add_upstream(other)

    def __rrshift__(self, other: Any) -> Any:
        """``[a, b] >> Label(...)``."""
        self.add_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        """``[a, b] << Label(...)``."""
        self.add_downstream(other)
        return self

    def endpoints(self) -> list[Any]:
        raise TypeError(f"Label({self.label!r}) must stand between two tasks: a >> Label >> b")

    def __repr__(self) -> str:
        return f"Label({self.label!r})"
