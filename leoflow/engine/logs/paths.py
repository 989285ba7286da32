"""Where a try's log lives: ``<root>/<dag_id>/<run_id>/<task_id>/[map_index=<n>/]<try>.log``.

Ids come from users (a run id given through the API is used verbatim), so each becomes one
safe path component: letters, digits and ``-_.+:=@,~`` stay as they are, so
``manual__2026-11-24T01:01:59+00:00`` remains readable; anything else (``/``, ``\\``, NUL,
``%``, spaces, non-ASCII) is percent-encoded as UTF-8, and ``.``/``..`` are encoded whole.
The encoding is one-to-one, so two ids never share a file. A component longer than 200
bytes is cut and suffixed with a hash of the whole id (file names are limited to 255 bytes).
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_SAFE = frozenset(string.ascii_letters + string.digits + "-_.+:=@,~")
_MAX_COMPONENT = 200


def safe_component(value: str) -> str:
    """``value`` as one file name that cannot escape its folder."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"a log path component must be a non-empty string, got {value!r}")
    out = "".join(c if c in _SAFE else "".join(
        f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")) for c in value)
    if out.strip(".") == "":  # ".", "..", "..." name folders, not files
        out = out.replace(".", "%2E")
    if len(out) > _MAX_COMPONENT:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        out = f"{out[:_MAX_COMPONENT - 17]}~{digest}"
    return out


@dataclass(frozen=True)
class LogKey:
    """One try of one task instance: the unit a log file holds."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    map_index: int = -1

    def __post_init__(self) -> None:
        if not isinstance(self.try_number, int) or self.try_number < 0:
            raise ValueError(f"try_number must be an int >= 0, got {self.try_number!r}")
        if not isinstance(self.map_index, int) or self.map_index < -1:
            raise ValueError(f"map_index must be an int >= -1, got {self.map_index!r}")

    def relative_path(self) -> PurePosixPath:
        parts = [safe_component(self.dag_id), safe_component(self.run_id),
                 safe_component(self.task_id)]
        if self.map_index >= 0:
            parts.append(f"map_index={self.map_index}")
        parts.append(f"{self.try_number}.log")
        return PurePosixPath(*parts)

    @property
    def channel(self) -> str:
        """The live-tail channel name: the relative path, unique per try."""
        return self.relative_path().as_posix()

    def path_under(self, root: Path) -> Path:
        """The absolute log path, checked to be inside ``root`` (defence in depth)."""
        base = root.resolve()
        path = base.joinpath(*self.relative_path().parts)
        if not path.is_relative_to(base) or ".." in path.relative_to(base).parts:
            raise ValueError(f"log path for {self} escapes {base}")
        return path
