"""The remote commands: ``push``, ``runs``, ``logs`` and ``dags``, against a Leoflow server.

They speak HTTP to ``leoflow-server`` (the Airflow-compatible ``/api/v2`` and Leoflow's
``/api/leoflow``). Every command takes ``--server``, ``--token`` and ``--profile`` (see
``remote_client`` for the precedence), and ``--json`` where it prints data. Thin: parse
flags, call the server, print. docs/cli-remote.md has the whole picture.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from leoflow.errors import LeoflowError

FINISHED_RUN = ("success", "failed")
PAGE = 100
TIMEOUT_EXIT = 124  # like timeout(1): the run goes on, we stopped waiting


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("server")
    group.add_argument("--server", help="server URL (default: LEOFLOW_SERVER, a profile, or "
                       "http://127.0.0.1:8080)")
    group.add_argument("--token", help="API token (default: LEOFLOW_TOKEN or a profile)")
    group.add_argument("--profile", help="a [profiles.NAME] table of ~/.leoflow/config.toml "
                       "(default: LEOFLOW_PROFILE, else the one named default)")
    return common


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    common = _common()
    fmt = argparse.RawDescriptionHelpFormatter

    push = sub.add_parser(
        "push", parents=[common], formatter_class=fmt,
        help="register compiled dag.json files on a Leoflow server",
        description="Send compiled dag.json documents (with the DAG file they were compiled "
                    "from) to a server, which validates them, prepares their environment and "
                    "stores a new version. A new DAG starts paused. A bad document is refused "
                    "with the field path and nothing is registered.",
        epilog="examples:\n  leoflow compile my_dag -o my_dag/dag.json\n"
               "  leoflow push my_dag/dag.json --server https://leoflow.example.com --unpause")
    push.add_argument("paths", nargs="+", metavar="DAG_JSON", help="dag.json file(s)")
    push.add_argument("--source", help="the DAG file to send with it (default: the dag.json's "
                      "fileloc, next to the dag.json)")
    push.add_argument("--no-source", action="store_true",
                      help="send no DAG file (the server must have the project already)")
    push.add_argument("--unpause", action="store_true", help="unpause the DAG once pushed")
    _json_flag(push)
    push.set_defaults(func=cmd_push)

    runs = sub.add_parser("runs", help="trigger, follow and list DAG runs on a server",
                          description="DAG runs on a Leoflow server.")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="<command>", required=True)
    trigger = runs_sub.add_parser(
        "trigger", parents=[common], formatter_class=fmt, help="start a run of a DAG",
        description="Trigger a manual run. With --wait, print a line whenever one of its "
                    "tasks changes state, and exit 0 if the run succeeds, 1 if it fails, "
                    f"{TIMEOUT_EXIT} if --timeout passes first (the run goes on).",
        epilog="examples:\n  leoflow runs trigger etl --conf '{\"day\": \"2026-01-01\"}' --wait\n"
               "  leoflow runs trigger etl --wait --timeout 600 --json")
    trigger.add_argument("dag_id")
    trigger.add_argument("--conf", default="{}", help="the run's conf, a JSON object")
    trigger.add_argument("--run-id", help="the run id (default: manual__<time>)")
    trigger.add_argument("--logical-date", help="ISO-8601 with a timezone (default: none)")
    trigger.add_argument("--note", help="a note on the run")
    trigger.add_argument("--wait", action="store_true", help="follow the run until it ends")
    trigger.add_argument("--timeout", type=float, default=3600.0,
                         help="with --wait: stop waiting after this many seconds (default 3600)")
    trigger.add_argument("--poll", type=float, default=0.25,
                         help="with --wait: seconds between polls (default 0.25)")
    _json_flag(trigger)
    trigger.set_defaults(func=cmd_trigger)

    status = runs_sub.add_parser("status", parents=[common], help="a run and its tasks",
                                 description="Show a run's state and its task instances.")
    status.add_argument("dag_id")
    status.add_argument("run_id")
    _json_flag(status)
    status.set_defaults(func=cmd_status)

    listing = runs_sub.add_parser("list", parents=[common], help="recent runs",
                                  description="List runs, newest first.")
    listing.add_argument("--dag-id", help="only this DAG's runs (default: every DAG)")
    listing.add_argument("--state", action="append",
                         choices=("queued", "running", "success", "failed"),
                         help="only runs in this state (repeatable)")
    listing.add_argument("--limit", type=int, default=25, help="how many (default 25)")
    _json_flag(listing)
    listing.set_defaults(func=cmd_runs_list)

    logs = sub.add_parser(
        "logs", parents=[common], formatter_class=fmt, help="print a task's log",
        description="Print the log of a task instance's try (the latest by default). "
                    "--follow keeps printing new lines until the try ends.",
        epilog="examples:\n  leoflow logs etl manual__2026-01-01T00:00:00+00:00 load\n"
               "  leoflow logs etl RUN_ID load --try 2 --follow")
    logs.add_argument("dag_id")
    logs.add_argument("run_id")
    logs.add_argument("task_id")
    logs.add_argument("--try", dest="try_number", type=int,
                      help="which try (default: the latest)")
    logs.add_argument("--map-index", type=int, default=-1,
                      help="which mapped instance (default -1: not mapped)")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep printing until the try ends")
    logs.add_argument("--poll", type=float, default=0.5,
                      help="with --follow: seconds between polls (default 0.5)")
    logs.add_argument("--json", action="store_true", help="print each record as a JSON line")
    logs.set_defaults(func=cmd_logs)

    dags = sub.add_parser("dags", help="list, pause and unpause DAGs on a server",
                          description="DAGs on a Leoflow server.")
    dags_sub = dags.add_subparsers(dest="dags_command", metavar="<command>", required=True)
    dags_list = dags_sub.add_parser("list", parents=[common], help="every DAG",
                                    description="List the DAGs you can see.")
    _json_flag(dags_list)
    dags_list.set_defaults(func=cmd_dags_list)
    for name, paused in (("pause", True), ("unpause", False)):
        p = dags_sub.add_parser(name, parents=[common], help=f"{name} a DAG",
                                description=("Pause a DAG: no new run starts."
                                             if paused else
                                             "Unpause a DAG: its runs go on."))
        p.add_argument("dag_id")
        _json_flag(p)
        p.set_defaults(func=cmd_pause, paused=paused)
    versions = dags_sub.add_parser("versions", parents=[common], help="a DAG's versions",
                                   description="List the versions pushed for a DAG.")
    versions.add_argument("dag_id")
    _json_flag(versions)
    versions.set_defaults(func=cmd_versions)


# -- helpers ---------------------------------------------------------------------------------
def _client(args: argparse.Namespace, timeout: float = 30.0) -> Any:
    from leoflow.app.remote_client import RemoteClient, resolve_target

    return RemoteClient(resolve_target(args.server, args.token, args.profile),
                        timeout=timeout)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False), flush=True)


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _task_name(ti: dict[str, Any]) -> str:
    index = ti.get("map_index", -1)
    return ti["task_id"] if index in (-1, None) else f"{ti['task_id']}[{index}]"


def _duration(value: Any) -> str:
    return "" if value is None else f"{float(value):.2f}s"


def _dag_path(dag_id: str) -> str:
    from leoflow.app.remote_client import q

    return f"/api/v2/dags/{q(dag_id)}"


def _run_path(dag_id: str, run_id: str) -> str:
    from leoflow.app.remote_client import q

    return f"{_dag_path(dag_id)}/dagRuns/{q(run_id)}"


def _pages(client: Any, path: str, key: str, *, what: str,
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
def _read_document(path: Path) -> dict[str, Any]:
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


def _source_for(path: Path, document: dict[str, Any], args: argparse.Namespace
                ) -> tuple[str | None, Path | None]:
    """The DAG file to send with a document, checked against the digest it was compiled
    from (an edited dag.py would run code the spec does not describe)."""
    import hashlib

    if args.no_source:
        return None, None
    if args.source:
        source_path = Path(args.source)
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
            print(f"warning: {source_path} not found; pushing {path} without its DAG file "
                  "(pass --source FILE)", file=sys.stderr)
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


def cmd_push(args: argparse.Namespace) -> int:
    from leoflow.app.remote_client import RemoteError

    if args.source and len(args.paths) > 1:
        raise LeoflowError("--source goes with one dag.json; push the files one by one")
    results = []
    with _client(args, timeout=900.0) as client:  # the server may build an environment
        for raw in args.paths:
            path = Path(raw)
            document = _read_document(path)
            code, _ = _source_for(path, document, args)
            body = dict(document)
            if code is not None:
                body["source_code"] = code
            dag_id = document.get("dag_id", "?")
            try:
                version = client.call("POST", "/api/leoflow/dags", json=body,
                                      what=f"{path} (DAG {dag_id!r})")
            except RemoteError as exc:
                if exc.status == 422:
                    raise RemoteError(f"{path} was refused, nothing registered: "
                                      f"{_validation(exc.detail)}", status=422,
                                      detail=exc.detail) from None
                raise
            if args.unpause and version.get("is_paused", True):
                client.call("PATCH", _dag_path(version["dag_id"]), what=f"DAG {dag_id!r}",
                            params={"update_mask": "is_paused"}, json={"is_paused": False})
                version["is_paused"] = False
            results.append(version)
            if not args.json:
                _say_pushed(client.target.server, version)
    if args.json:
        _print_json(results[0] if len(results) == 1 else results)
    return 0


def _validation(detail: Any) -> str:
    from leoflow.app.remote_client import format_validation

    return format_validation(detail)


def _say_pushed(server: str, version: dict[str, Any]) -> None:
    dag_id, number = version["dag_id"], version["version_number"]
    digest = str(version.get("content_hash", ""))[:19]
    if version.get("created"):
        print(f"pushed DAG {dag_id!r} version {number} ({digest}) to {server}")
    else:
        print(f"DAG {dag_id!r} unchanged: already version {number} ({digest}) on {server}")
    if version.get("is_paused"):
        print(f"  it is paused; start it with `leoflow dags unpause {dag_id}`")


# -- runs ------------------------------------------------------------------------------------
def _parse_conf(text: str) -> dict[str, Any]:
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise LeoflowError(f"--conf is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise LeoflowError("--conf must be a JSON object, e.g. '{\"n\": 3}'")
    return conf


def cmd_trigger(args: argparse.Namespace) -> int:
    conf = _parse_conf(args.conf)
    body: dict[str, Any] = {"conf": conf, "logical_date": args.logical_date}
    if args.run_id:
        body["dag_run_id"] = args.run_id
    if args.note:
        body["note"] = args.note
    say: Callable[[str], None] = (lambda text: print(text, file=sys.stderr, flush=True)) \
        if args.json else (lambda text: print(text, flush=True))
    with _client(args) as client:
        what = f"DAG {args.dag_id!r}"
        dag = client.call("GET", _dag_path(args.dag_id), what=what)
        run = client.call("POST", f"{_dag_path(args.dag_id)}/dagRuns", json=body, what=what)
        run_id = run["dag_run_id"]
        if not args.wait:
            if args.json:
                _print_json(run)
            else:
                print(f"triggered run {run_id} of {args.dag_id} ({run.get('state')})")
                print(f"  follow it: leoflow runs status {args.dag_id} '{run_id}'")
            if dag.get("is_paused"):
                say(f"note: {args.dag_id} is paused; the run waits until "
                    f"`leoflow dags unpause {args.dag_id}`")
            return 0
        say(f"==> run {run_id} of {args.dag_id}")
        if dag.get("is_paused"):
            say(f"    {args.dag_id} is paused: the run waits until it is unpaused "
                f"(`leoflow dags unpause {args.dag_id}`)")
        run, tis, state = _follow_run(client, args.dag_id, run_id, timeout=args.timeout,
                                      poll=args.poll, say=say)
    if args.json:
        _print_json({"dag_run": run, "task_instances": tis, "timed_out": state == "timeout"})
    if state == "timeout":
        say(f"==> still {run.get('state')} after {args.timeout:g} s; stopped waiting (the run "
            f"goes on): leoflow runs status {args.dag_id} '{run_id}'")
        return TIMEOUT_EXIT
    say(f"==> {args.dag_id} {state}" + (f" in {run['duration']:.2f} s"
                                        if isinstance(run.get("duration"), int | float)
                                        else ""))
    if state != "success":
        failed = [t for t in tis if t.get("state") == "failed"]
        for ti in failed[:5]:
            say(f"    {_task_name(ti)} failed: leoflow logs {args.dag_id} '{run_id}' "
                f"{ti['task_id']}" + (f" --map-index {ti['map_index']}"
                                      if ti.get("map_index", -1) != -1 else ""))
    return 0 if state == "success" else 1


def _follow_run(client: Any, dag_id: str, run_id: str, *, timeout: float, poll: float,
                say: Callable[[str], None]) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Poll the run and its task instances, saying each task's state changes, until the run
    ends or ``timeout`` passes; returns the run, its task instances and the outcome."""
    started = time.monotonic()
    seen: dict[tuple[str, int], str] = {}
    what = f"run {run_id!r} of DAG {dag_id!r}"
    while True:
        run = client.call("GET", _run_path(dag_id, run_id), what=what)
        tis = list(_pages(client, f"{_run_path(dag_id, run_id)}/taskInstances",
                          "task_instances", what=what))
        clock = time.monotonic() - started
        for ti in sorted(tis, key=lambda t: (t.get("start_date") or "~", t["task_id"],
                                             t.get("map_index", -1))):
            key = (ti["task_id"], ti.get("map_index", -1))
            state = ti.get("state") or "none"
            if seen.get(key) != state and (key in seen or state != "none"):
                tries = f" (try {ti['try_number']})" if ti.get("try_number", 1) > 1 else ""
                say(f"  {clock:7.2f}s  {_task_name(ti):<32} {state}{tries}")
            seen[key] = state
        if run.get("state") in FINISHED_RUN:
            return run, tis, run["state"]
        if clock >= timeout:
            return run, tis, "timeout"
        time.sleep(max(0.05, min(poll, timeout - clock)))


def cmd_status(args: argparse.Namespace) -> int:
    what = f"run {args.run_id!r} of DAG {args.dag_id!r}"
    with _client(args) as client:
        run = client.call("GET", _run_path(args.dag_id, args.run_id), what=what)
        tis = list(_pages(client, f"{_run_path(args.dag_id, args.run_id)}/taskInstances",
                          "task_instances", what=what))
    if args.json:
        _print_json({"dag_run": run, "task_instances": tis})
        return 0
    print(f"run {run['dag_run_id']} of {run['dag_id']}: {run.get('state')}")
    for label, key in (("started", "start_date"), ("ended", "end_date")):
        if run.get(key):
            print(f"  {label}: {run[key]}")
    if run.get("conf"):
        print(f"  conf: {json.dumps(run['conf'])}")
    if tis:
        print()
        _table([[_task_name(t), t.get("state") or "none", str(t.get("try_number", "")),
                 _duration(t.get("duration"))] for t in tis],
               ["TASK", "STATE", "TRY", "DURATION"])
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    from leoflow.app.remote_client import q

    if args.limit < 1:
        raise LeoflowError("--limit must be at least 1")
    params: dict[str, Any] = {"order_by": "-run_after"}
    if args.state:
        params["state"] = args.state
    dag_id = args.dag_id or "~"
    what = f"DAG {args.dag_id!r}" if args.dag_id else "the DAG runs"
    with _client(args) as client:
        runs = list(_pages(client, f"/api/v2/dags/{q(dag_id)}/dagRuns", "dag_runs", what=what,
                           params=params, limit=args.limit))
    if args.json:
        _print_json(runs)
        return 0
    if not runs:
        print("no runs")
        return 0
    _table([[r["dag_id"], r["dag_run_id"], r.get("state") or "", r.get("run_type") or "",
             str(r.get("run_after") or ""), _duration(r.get("duration"))] for r in runs],
           ["DAG", "RUN", "STATE", "TYPE", "RUN AFTER", "DURATION"])
    return 0


# -- logs ------------------------------------------------------------------------------------
def _ti_path(dag_id: str, run_id: str, task_id: str) -> str:
    from leoflow.app.remote_client import q

    return f"{_run_path(dag_id, run_id)}/taskInstances/{q(task_id)}"


def _get_ti(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    path = _ti_path(args.dag_id, args.run_id, args.task_id)
    if args.map_index != -1:
        path += f"/{args.map_index}"
    name = args.task_id if args.map_index == -1 else f"{args.task_id}[{args.map_index}]"
    return client.call("GET", path, what=f"task {name!r} of run {args.run_id!r} of DAG "
                                         f"{args.dag_id!r}")


def _print_records(records: list[Any], as_json: bool) -> None:
    for record in records:
        if as_json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        elif isinstance(record, dict):
            print(record.get("event", ""), flush=True)
        else:
            print(record, flush=True)


def cmd_logs(args: argparse.Namespace) -> int:
    with _client(args) as client:
        ti = _get_ti(client, args)
        try_number = args.try_number or ti.get("try_number") or 0
        while try_number < 1:  # not started yet
            if not args.follow:
                raise LeoflowError(f"task {args.task_id!r} has not run yet in "
                                   f"{args.run_id!r} (state {ti.get('state') or 'none'}); "
                                   "use --follow to wait for it")
            time.sleep(args.poll)
            ti = _get_ti(client, args)
            try_number = ti.get("try_number") or 0
        path = f"{_ti_path(args.dag_id, args.run_id, args.task_id)}/logs/{try_number}"
        what = f"try {try_number} of task {args.task_id!r} in run {args.run_id!r}"
        if not args.follow:
            page = client.call("GET", path, what=what, params={
                "map_index": args.map_index, "full_content": "true"})
            _print_records(page.get("content") or [], args.json)
            return 0
        # The server hands out a continuation token while the try may still write, and
        # none once it is over: follow the tokens until there is none.
        token: str | None = None
        while True:
            params: dict[str, Any] = {"map_index": args.map_index}
            if token:
                params["token"] = token
            page = client.call("GET", path, what=what, params=params)
            records = page.get("content") or []
            _print_records(records, args.json)
            token = page.get("continuation_token")
            if not token:
                return 0
            if not records:
                time.sleep(args.poll)


# -- dags ------------------------------------------------------------------------------------
def cmd_dags_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        dags = list(_pages(client, "/api/v2/dags", "dags", what="the DAGs"))
    if args.json:
        _print_json(dags)
        return 0
    if not dags:
        print("no DAGs; push one with `leoflow push dag.json`")
        return 0
    _table([[d["dag_id"], "yes" if d.get("is_paused") else "no",
             str(d.get("timetable_summary") or ""),
             ", ".join(t.get("name", "") for t in d.get("tags") or [])] for d in dags],
           ["DAG", "PAUSED", "SCHEDULE", "TAGS"])
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    with _client(args) as client:
        dag = client.call("PATCH", _dag_path(args.dag_id), what=f"DAG {args.dag_id!r}",
                          params={"update_mask": "is_paused"},
                          json={"is_paused": args.paused})
    if args.json:
        _print_json(dag)
    else:
        print(f"DAG {args.dag_id!r} {'paused' if dag.get('is_paused') else 'unpaused'}")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from leoflow.app.remote_client import q

    with _client(args) as client:
        versions = list(_pages(client, f"/api/leoflow/dags/{q(args.dag_id)}/versions",
                               "versions", what=f"DAG {args.dag_id!r}"))
    if args.json:
        _print_json(versions)
        return 0
    _table([[str(v["version_number"]), v["content_hash"][:19], v["created_at"],
             "*" if v.get("is_current") else ""] for v in versions],
           ["VERSION", "CONTENT HASH", "CREATED", "CURRENT"])
    return 0
