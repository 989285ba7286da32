"""The ``file`` trigger kind: fires when at least one file matches a path or glob.

Matching runs in a worker thread (a glob over a large or network directory blocks). A
relative path is resolved against the control plane's working directory; the docs
recommend absolute paths. As Airflow's FileSensor: a matching directory counts when it holds
files (any depth with ``recursive``).

A FileSensor that waits from its start names its connection (``fs_conn_id``): when the wait
begins, ``with_base_path`` joins that connection's ``path`` extra with the file path, as
Airflow's ``FSHook`` does, and refuses a connection that is not defined, as Airflow fails
such a sensor.
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from leoflow.engine.triggers.base import (
    PollResult,
    TriggerError,
    connection_extra,
    parse_connection,
)

MAX_LISTED = 100  # files named in the event


def validate(kwargs: Mapping[str, Any]) -> None:
    if not isinstance(kwargs.get("filepath"), str) or not kwargs["filepath"]:
        raise TriggerError("a file trigger needs filepath (a path or glob)",
                           field="trigger.kwargs.filepath")


async def with_base_path(kwargs: Mapping[str, Any], env: Mapping[str, str],
                         lookup: Callable[[str], Awaitable[Mapping[str, Any] | None]]
                         ) -> dict[str, Any]:
    """``kwargs`` with ``filepath`` under the ``fs_conn_id`` connection's base path.

    The connection is the DAG's own (``AIRFLOW_CONN_<ID>`` in leoflow.yaml's ``env``) or its
    tenant's (``lookup``). Raises ``TriggerError`` with Airflow's message when it is not
    defined.
    """
    conn_id = kwargs.get("fs_conn_id")
    if not conn_id:
        return dict(kwargs)
    raw = env.get(f"AIRFLOW_CONN_{str(conn_id).upper()}")
    found = parse_connection(raw) if raw else await lookup(str(conn_id))
    if not found:
        raise TriggerError(
            f"AirflowNotFoundException: The conn_id `{conn_id}` isn't defined (a fresh "
            "Airflow 3 has no fs_default either: add it as a connection, or set "
            f"AIRFLOW_CONN_{str(conn_id).upper()}='{{\"conn_type\": \"fs\"}}' in "
            "leoflow.yaml's env)", field="trigger.kwargs.fs_conn_id")
    base = str(connection_extra(found).get("path") or "")
    resolved = {k: v for k, v in kwargs.items() if k != "fs_conn_id"}
    resolved["filepath"] = os.path.join(base, str(kwargs["filepath"]))
    return resolved


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
