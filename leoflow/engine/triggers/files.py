"""The ``file`` trigger kind: fires when at least one file matches a path or glob.

Matching runs in a worker thread (a glob over a large or network directory blocks). A
relative path is resolved against the control plane's working directory; the docs
recommend absolute paths. As Airflow's FileSensor: a matching directory counts when it holds
files (any depth with ``recursive``).
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import Mapping
from typing import Any

from leoflow.engine.triggers.base import PollResult, TriggerError

MAX_LISTED = 100  # files named in the event


def validate(kwargs: Mapping[str, Any]) -> None:
    if not isinstance(kwargs.get("filepath"), str) or not kwargs["filepath"]:
        raise TriggerError("a file trigger needs filepath (a path or glob)",
                           field="trigger.kwargs.filepath")


def _match(pattern: str, recursive: bool) -> list[str]:
    found: list[str] = []
    for path in sorted(glob.glob(pattern, recursive=recursive)):
        if os.path.isfile(path):
            found.append(path)
        elif os.path.isdir(path):
            if recursive:
                for root, _dirs, files in os.walk(path):
                    found.extend(os.path.join(root, f) for f in sorted(files))
            else:
                found.extend(os.path.join(path, f) for f in sorted(os.listdir(path))
                             if os.path.isfile(os.path.join(path, f)))
        if len(found) >= MAX_LISTED:
            break
    return found[:MAX_LISTED]


async def poll(kwargs: Mapping[str, Any]) -> PollResult:
    pattern = str(kwargs["filepath"])
    files = await asyncio.to_thread(_match, pattern, bool(kwargs.get("recursive", False)))
    if files:
        return PollResult({"files": files}, f"file {pattern} appeared")
    return PollResult(None, f"a file matching {os.path.abspath(pattern)}")
