"""What the remote commands ask a server: API paths, paginated listings, following a run
or a try's log, pushing a compiled dag.json with its DAG file.

Functions here call the server and return data (or yield it as it comes); printing is the
command's job (``leoflow.app.cmd_remote``), except for progress lines handed to a ``say``
callback.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from leoflow.errors import LeoflowError
from leoflow.remote.client import RemoteClient, RemoteError, format_validation, q

FINISHED_RUN = ("success", "failed")
PAGE = 100


def dag_path(dag_id: str) -> str:
    return f"/api/v2/dags/{q(dag_id)}"


def run_path(dag_id: str, run_id: str) -> str:
    return f"{dag_path(dag_id)}/dagRuns/{q(run_id)}"


def ti_path(dag_id: str, run_id: str, task_id: str) -> str:
    return f"{run_path(dag_id, run_id)}/taskInstances/{q(task_id)}"


def task_name(ti: dict[str, Any]) -> str:
    """``task`` or ``task[3]`` for a mapped instance."""
    index = ti.get("map_index", -1)
    return ti["task_id"] if index in (-1, None) else f"{ti['task_id']}[{index}]"


def pages(client: RemoteClient, path: str, key: str, *, what: str,
          params: dict[str, Any] | None = None, limit: int | None = None
          ) -> Iterator[dict[str, Any]]:
    """Every item of a paginated listing (``limit``/``offset``, ``total_entries``)."""
    offset, seen = 0, 0
    while True:
        size = PAGE if limit is None else min(PAGE, limit - seen)
        page = client.call("GET", path, what=what,
                           params={**(params or {}), "limit": size, "offset": offset})
        items = page.get(key) or []
        yield from items
        seen += len(items)
        offset += len(items)
        total = page.get("total_entries")
        if not items or (total is not None and offset >= total) \
                or (limit is not None and seen >= limit):
            return


# -- push ------------------------------------------------------------------------------------
def read_document(path: Path) -> dict[str, Any]:
    """A compiled dag.json, or a one-line error naming the file."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise LeoflowError(f"{path}: no such file; compile it with `leoflow compile`") from None
    except OSError as exc:
        raise LeoflowError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise LeoflowError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise LeoflowError(f"{path}: not a dag.json document (expected a JSON object)")
    return document


def source_for(path: Path, document: dict[str, Any], *, source: str | None, no_source: bool,
               warn: Callable[[str], None]) -> tuple[str | None, Path | None]:
    """The DAG file to send with a document, checked against the digest it was compiled
    from (an edited dag.py would run code the spec does not describe)."""
    if no_source:
        return None, None
    if source:
        source_path = Path(source)
    else:
        fileloc = document.get("fileloc")
        if not isinstance(fileloc, str) or not fileloc:
            return None, None
        source_path = Path(fileloc)
        if not source_path.is_absolute():
            # relative to the project (or DAGs folder): dag.json lies in it, or in its
            # dags/ folder (several DAGs), or anywhere -o put it below it
            candidates = [folder / source_path for folder in (path.parent, *path.parent.parents)]
            source_path = next((c for c in candidates[:4] if c.is_file()), candidates[0])
        if not source_path.is_file():
            warn(f"warning: {source_path} not found; pushing {path} without its DAG file "
                 "(pass --source FILE)")
            return None, None
    try:
        code = source_path.read_text("utf-8")
    except OSError as exc:
        raise LeoflowError(f"{source_path}: cannot read: {exc.strerror}") from None
    declared = document.get("source_sha256")
    digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
    if declared and digest != declared:
        raise LeoflowError(f"{source_path} changed since {path} was compiled; compile again "
                           f"(`leoflow compile {source_path.parent}`) and push")
    return code, source_path


def push_document(client: RemoteClient, path: Path, document: dict[str, Any],
                  code: str | None, *, unpause: bool) -> dict[str, Any]:
    """Register one document (with its DAG file) on the server; unpause it if asked.
    Returns the version the server answered (``created``, ``is_paused``...)."""
    body = dict(document)
    if code is not None:
        body["source_code"] = code
    dag_id = document.get("dag_id", "?")
    try:
        version: dict[str, Any] = client.call("POST", "/api/leoflow/dags", json=body,
                                              what=f"{path} (DAG {dag_id!r})")
    except RemoteError as exc:
        if exc.status == 422:
            raise RemoteError(f"{path} was refused, nothing registered: "
                              f"{format_validation(exc.detail)}", status=422,
                              detail=exc.detail) from None
        raise
    if unpause and version.get("is_paused", True):
        client.call("PATCH", dag_path(version["dag_id"]), what=f"DAG {dag_id!r}",
                    params={"update_mask": "is_paused"}, json={"is_paused": False})
        version["is_paused"] = False
    return version


# -- runs ------------------------------------------------------------------------------------
def follow_run(client: RemoteClient, dag_id: str, run_id: str, *, timeout: float, poll: float,
               say: Callable[[str], None]
               ) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Poll the run and its task instances, saying each task's state changes, until the run
    ends or ``timeout`` passes; returns the run, its task instances and the outcome."""
    started = time.monotonic()
    seen: dict[tuple[str, int], str] = {}
    what = f"run {run_id!r} of DAG {dag_id!r}"
    while True:
        run = client.call("GET", run_path(dag_id, run_id), what=what)
        tis = list(pages(client, f"{run_path(dag_id, run_id)}/taskInstances",
                         "task_instances", what=what))
        clock = time.monotonic() - started
        for ti in sorted(tis, key=lambda t: (t.get("start_date") or "~", t["task_id"],
                                             t.get("map_index", -1))):
            key = (ti["task_id"], ti.get("map_index", -1))
            state = ti.get("state") or "none"
            if seen.get(key) != state and (key in seen or state != "none"):
                tries = f" (try {ti['try_number']})" if ti.get("try_number", 1) > 1 else ""
                say(f"  {clock:7.2f}s  {task_name(ti):<32} {state}{tries}")
            seen[key] = state
        if run.get("state") in FINISHED_RUN:
            return run, tis, run["state"]
        if clock >= timeout:
            return run, tis, "timeout"
        time.sleep(max(0.05, min(poll, timeout - clock)))


# -- logs ------------------------------------------------------------------------------------
def get_ti(client: RemoteClient, dag_id: str, run_id: str, task_id: str,
           map_index: int) -> dict[str, Any]:
    """One task instance (a mapped one when ``map_index`` is not -1)."""
    path = ti_path(dag_id, run_id, task_id)
    if map_index != -1:
        path += f"/{map_index}"
    name = task_id if map_index == -1 else f"{task_id}[{map_index}]"
    ti: dict[str, Any] = client.call("GET", path, what=f"task {name!r} of run {run_id!r} of "
                                                     f"DAG {dag_id!r}")
    return ti


def log_records(client: RemoteClient, dag_id: str, run_id: str, task_id: str, *,
                map_index: int, try_number: int | None, follow: bool, poll: float
                ) -> Iterator[list[Any]]:
    """The log records of a try (the latest by default), one batch at a time; with
    ``follow``, waits for the try to start and keeps yielding until it is over."""
    ti = get_ti(client, dag_id, run_id, task_id, map_index)
    number = try_number or ti.get("try_number") or 0
    while number < 1:  # not started yet
        if not follow:
            raise LeoflowError(f"task {task_id!r} has not run yet in {run_id!r} (state "
                               f"{ti.get('state') or 'none'}); use --follow to wait for it")
        time.sleep(poll)
        ti = get_ti(client, dag_id, run_id, task_id, map_index)
        number = ti.get("try_number") or 0
    path = f"{ti_path(dag_id, run_id, task_id)}/logs/{number}"
    what = f"try {number} of task {task_id!r} in run {run_id!r}"
    if not follow:
        page = client.call("GET", path, what=what, params={
            "map_index": map_index, "full_content": "true"})
        yield page.get("content") or []
        return
    # The server hands out a continuation token while the try may still write, and
    # none once it is over: follow the tokens until there is none.
    token: str | None = None
    while True:
        params: dict[str, Any] = {"map_index": map_index}
        if token:
            params["token"] = token
        page = client.call("GET", path, what=what, params=params)
        records = page.get("content") or []
        yield records
        token = page.get("continuation_token")
        if not token:
            return
        if not records:
            time.sleep(poll)
