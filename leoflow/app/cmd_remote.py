"""The remote commands: ``push``, ``runs``, ``logs`` and ``dags``, against a Leoflow server.

They speak HTTP to ``leoflow-server`` (the Airflow-compatible ``/api/v2`` and Leoflow's
``/api/leoflow``) through ``leoflow.remote``. Every command takes ``--server``, ``--token``
and ``--profile`` (see ``leoflow.remote.target`` for the precedence), and ``--json`` where
it prints data. Thin: parse flags, call ``leoflow.remote.calls``, print.
docs/cli-remote.md has the whole picture.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leoflow.errors import LeoflowError

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


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    from leoflow.remote.client import RemoteClient
    from leoflow.remote.target import resolve_target

    return RemoteClient(resolve_target(args.server, args.token, args.profile),
                        timeout=timeout)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False), flush=True)


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _duration(value: Any) -> str:
    return "" if value is None else f"{float(value):.2f}s"


# -- push ------------------------------------------------------------------------------------
def cmd_push(args: argparse.Namespace) -> int:
    from leoflow.remote.calls import push_document, read_document, source_for

    if args.source and len(args.paths) > 1:
        raise LeoflowError("--source goes with one dag.json; push the files one by one")
    results = []
    with _client(args, timeout=900.0) as client:  # the server may build an environment
        for raw in args.paths:
            path = Path(raw)
            document = read_document(path)
            code, _ = source_for(path, document, source=args.source, no_source=args.no_source,
                                 warn=lambda text: print(text, file=sys.stderr))
            version = push_document(client, path, document, code, unpause=args.unpause)
            results.append(version)
            if not args.json:
                _say_pushed(client.target.server, version)
    if args.json:
        _print_json(results[0] if len(results) == 1 else results)
    return 0


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
    from leoflow.remote.calls import dag_path, follow_run, task_name

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
        dag = client.call("GET", dag_path(args.dag_id), what=what)
        run = client.call("POST", f"{dag_path(args.dag_id)}/dagRuns", json=body, what=what)
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
        run, tis, state = follow_run(client, args.dag_id, run_id, timeout=args.timeout,
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
            say(f"    {task_name(ti)} failed: leoflow logs {args.dag_id} '{run_id}' "
                f"{ti['task_id']}" + (f" --map-index {ti['map_index']}"
                                      if ti.get("map_index", -1) != -1 else ""))
    return 0 if state == "success" else 1


def cmd_status(args: argparse.Namespace) -> int:
    from leoflow.remote.calls import pages, run_path, task_name

    what = f"run {args.run_id!r} of DAG {args.dag_id!r}"
    with _client(args) as client:
        run = client.call("GET", run_path(args.dag_id, args.run_id), what=what)
        tis = list(pages(client, f"{run_path(args.dag_id, args.run_id)}/taskInstances",
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
        _table([[task_name(t), t.get("state") or "none", str(t.get("try_number", "")),
                 _duration(t.get("duration"))] for t in tis],
               ["TASK", "STATE", "TRY", "DURATION"])
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    from leoflow.remote.calls import pages
    from leoflow.remote.client import q

    if args.limit < 1:
        raise LeoflowError("--limit must be at least 1")
    params: dict[str, Any] = {"order_by": "-run_after"}
    if args.state:
        params["state"] = args.state
    dag_id = args.dag_id or "~"
    what = f"DAG {args.dag_id!r}" if args.dag_id else "the DAG runs"
    with _client(args) as client:
        runs = list(pages(client, f"/api/v2/dags/{q(dag_id)}/dagRuns", "dag_runs", what=what,
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
def _print_records(records: list[Any], as_json: bool) -> None:
    for record in records:
        if as_json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        elif isinstance(record, dict):
            print(record.get("event", ""), flush=True)
        else:
            print(record, flush=True)


def cmd_logs(args: argparse.Namespace) -> int:
    from leoflow.remote.calls import log_records

    with _client(args) as client:
        for records in log_records(client, args.dag_id, args.run_id, args.task_id,
                                   map_index=args.map_index, try_number=args.try_number,
                                   follow=args.follow, poll=args.poll):
            _print_records(records, args.json)
    return 0


# -- dags ------------------------------------------------------------------------------------
def cmd_dags_list(args: argparse.Namespace) -> int:
    from leoflow.remote.calls import pages

    with _client(args) as client:
        dags = list(pages(client, "/api/v2/dags", "dags", what="the DAGs"))
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
    from leoflow.remote.calls import dag_path

    with _client(args) as client:
        dag = client.call("PATCH", dag_path(args.dag_id), what=f"DAG {args.dag_id!r}",
                          params={"update_mask": "is_paused"},
                          json={"is_paused": args.paused})
    if args.json:
        _print_json(dag)
    else:
        print(f"DAG {args.dag_id!r} {'paused' if dag.get('is_paused') else 'unpaused'}")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from leoflow.remote.calls import pages
    from leoflow.remote.client import q

    with _client(args) as client:
        versions = list(pages(client, f"/api/leoflow/dags/{q(args.dag_id)}/versions",
                              "versions", what=f"DAG {args.dag_id!r}"))
    if args.json:
        _print_json(versions)
        return 0
    _table([[str(v["version_number"]), v["content_hash"][:19], v["created_at"],
             "*" if v.get("is_current") else ""] for v in versions],
           ["VERSION", "CONTENT HASH", "CREATED", "CURRENT"])
    return 0
