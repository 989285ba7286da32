"""Event triggers for asset watchers: ``AssetWatcher(name, trigger=FileDeleteTrigger(...))``.

As every Leoflow trigger, these are descriptions (``kind`` + JSON ``kwargs``) that the
control plane's trigger runner runs; both are kind ``file_delete``: fire once when the file
exists, then delete it (Airflow's ``airflow.providers.standard.triggers.file``).
``FileDeleteTrigger`` names one path (``filepath``); ``DirectoryFileDeleteTrigger`` a
``filename`` in a ``directory``. Standard library only.
"""

from __future__ import annotations

from typing import Any

from leoflow.sdk.triggers import BaseTrigger, _seconds


class BaseEventTrigger(BaseTrigger):
    """A trigger that may start DAG runs through an asset watcher (Airflow's name)."""


def _path(kind: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} needs a non-empty {field} string, got {value!r}")
    return value


class FileDeleteTrigger(BaseEventTrigger):
    """Fires once ``filepath`` is a file, after deleting it; polls every ``poke_interval``."""

    kind = "file_delete"

    def __init__(self, filepath: str, poke_interval: float = 5.0, **_: Any) -> None:
        self.filepath = _path("FileDeleteTrigger", "filepath", filepath)
        self.poke_interval = _seconds("FileDeleteTrigger poke_interval", poke_interval)

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"filepath": self.filepath, "poke_interval": self.poke_interval}


class DirectoryFileDeleteTrigger(BaseEventTrigger):
    """Fires once ``filename`` appears in ``directory``, after deleting it; watchers of one
    directory and interval may share one scan (the runner's choice)."""

    kind = "file_delete"

    def __init__(self, *, directory: str, filename: str, poke_interval: float = 5.0) -> None:
        self.directory = _path("DirectoryFileDeleteTrigger", "directory", directory)
        self.filename = _path("DirectoryFileDeleteTrigger", "filename", filename)
        if "/" in filename:
            raise ValueError("DirectoryFileDeleteTrigger filename is a name without a "
                             f"directory, got {filename!r}")
        self.poke_interval = _seconds("DirectoryFileDeleteTrigger poke_interval",
                                      poke_interval)

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"directory": self.directory, "filename": self.filename,
                "poke_interval": self.poke_interval}
