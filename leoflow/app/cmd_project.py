"""``leoflow init``, ``leoflow validate`` and ``leoflow compile``: the authoring commands."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from leoflow.engine.safe_files import write_file

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser(
        "init", help="scaffold a new DAG project (dag.py + leoflow.yaml)",
        description="Create a folder with a starter dag.py, leoflow.yaml and .gitignore. "
                    "The folder's name becomes the dag_id.",
        epilog="example:\n  leoflow init my_dag && leoflow validate my_dag",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    init.add_argument("path", help="folder to create; its name is the dag_id")
    init.add_argument("--python", dest="python_version",
                      default=f"{sys.version_info.major}.{sys.version_info.minor}",
                      help="python_version written to leoflow.yaml (default: this Python's)")
    init.add_argument("--force", action="store_true",
                      help="overwrite dag.py / leoflow.yaml if they already exist")
    init.set_defaults(func=run_init)

    for name, helptext in (("validate", "check a DAG project; exit 0 or print file:line"),
                           ("compile", "compile a DAG project into dag.json")):
        p = sub.add_parser(
            name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".",
            epilog=f"example:\n  leoflow {name} my_dag"
                   + (" -o my_dag/dag.json\n  leoflow compile my_dag --build --push --image "
                      "registry.example.com/team/my_dag:1" if name == "compile" else ""),
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("path", help="the project folder (or its dag.py), or a plain Airflow "
                       "DAGs folder (or one of its files)")
        p.add_argument("--python", help="interpreter that runs the DAG file (default: the "
                       "DAG's environment when it exists, else this Python)")
        p.add_argument("--timeout", type=float, default=None,
                       help="seconds the DAG file may take to load (default 30, or "
                            "LEOFLOW_COMPILE_TIMEOUT)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("-v", "--verbose", action="store_true",
                       help="print the DAG file's full traceback on errors")
        if name == "compile":
            p.add_argument("-o", "--output",
                           help="file to write (one DAG) or folder (several DAGs); default: "
                                "dag.json in the project, or dags/<dag_id>.json")
            p.add_argument("--dag-id", help="compile only this DAG of a multi-DAG file")
            image = p.add_argument_group(
                "image", "build the DAG's container image from leoflow.yaml (docs/images.md)")
            image.add_argument("--build", action="store_true",
                               help="write a Dockerfile and build context, and build the "
                                    "image through the Docker Engine API")
            image.add_argument("--push", action="store_true",
                               help="push the built image; dag.json records it with its digest")
            image.add_argument("--image", metavar="NAME:TAG",
                               help="image to build (default: leoflow.yaml's image, else "
                                    "leoflow-dag-<dag_id>:<first 12 of the content hash>)")
            image.add_argument("--base-image", metavar="IMAGE",
                               help="base image (default: python:<python_version>-slim)")
            image.add_argument("--context", metavar="DIR",
                               help="folder for the Dockerfile and build context (default: "
                                    "~/.leoflow/images/<dag_id>); without --build, only "
                                    "writes it")
            p.set_defaults(func=run_compile)
        else:
            p.set_defaults(func=run_validate)


# -- init --------------------------------------------------------------------------------
def run_init(args: argparse.Namespace) -> int:
    from leoflow.errors import LeoflowError

    target = Path(args.path)
    dag_id = target.resolve().name
    if not ID_PATTERN.match(dag_id):
        raise LeoflowError(
            f"{dag_id!r} cannot be a dag_id: use only letters, digits, '_', '-' and '.'")
    if not re.fullmatch(r"3\.\d{1,2}", args.python_version):
        raise LeoflowError(f"--python {args.python_version!r} is not a version like 3.11")
    files = {"dag.py": "dag.py.tmpl", "leoflow.yaml": "leoflow.yaml.tmpl",
             ".gitignore": "gitignore.tmpl"}
    existing = [name for name in files if (target / name).exists()]
    if existing and not args.force:
        raise LeoflowError(f"{target}: {', '.join(existing)} already exist; nothing was "
                           "written (use --force to overwrite)")
    target.mkdir(parents=True, exist_ok=True)
    templates = resources.files("leoflow.app").joinpath("templates")
    for name, template in files.items():
        text = templates.joinpath(template).read_text("utf-8")
        if name != ".gitignore":
            text = text.format(dag_id=dag_id, python_version=args.python_version)
        write_file(target / name, text)  # never through a link planted in the folder
    print(f"created {target}/dag.py, {target}/leoflow.yaml and {target}/.gitignore")
    print(f"next: leoflow validate {target}")
    return 0


# -- validate / compile ------------------------------------------------------------------
def _compile(args: argparse.Namespace) -> Any:
    from leoflow.engine.compiler.child import DEFAULT_TIMEOUT
    from leoflow.engine.compiler.compile import compile_project

    timeout = args.timeout or float(os.environ.get("LEOFLOW_COMPILE_TIMEOUT", DEFAULT_TIMEOUT))
    return compile_project(args.path, python=args.python, home=_home(), timeout=timeout,
                           keep_going=True)


def _file_errors(args: argparse.Namespace, project: Any) -> list[dict[str, Any]]:
    """The files of a plain folder that did not compile, printed one line each (unless
    --json: the caller puts them in its document)."""
    errors = [{"kind": e.kind, "message": e.message, "file": e.file, "line": e.line}
              for e in project.errors]
    if not args.json:
        for error in project.errors:
            print(f"error: {error}", file=sys.stderr)
            if args.verbose and error.traceback:
                print(error.traceback.rstrip(), file=sys.stderr)
        if project.plain:
            good = len(project.compiled_files) - len(project.errors)
            print(f"{good} of {len(project.compiled_files)} DAG files compiled "
                  f"({len(project.documents)} DAGs)", file=sys.stderr)
    return errors


def _home() -> Path:
    return Path(os.environ.get("LEOFLOW_HOME") or Path.home() / ".leoflow")


def _report_failure(args: argparse.Namespace, exc: Any) -> int:
    if args.json:
        print(json.dumps({"ok": False, "error": {
            "kind": getattr(exc, "kind", "error"), "message": getattr(exc, "message", str(exc)),
            "file": getattr(exc, "file", None), "line": getattr(exc, "line", None)}}))
    else:
        print(f"error: {exc}", file=sys.stderr)
        trace = getattr(exc, "traceback", "")
        if args.verbose and trace:
            print(trace.rstrip(), file=sys.stderr)
    return 1


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    edges = sum(len(t["upstream"]) for t in doc["tasks"])
    schedule = doc["schedule"]
    return {"dag_id": doc["dag_id"], "tasks": len(doc["tasks"]), "edges": edges,
            "schedule": schedule.get("expression") or (
                f"every {schedule['seconds']:g}s" if schedule["kind"] == "timedelta" else None),
            "content_hash": doc["content_hash"]}


def run_validate(args: argparse.Namespace) -> int:
    from leoflow.errors import LeoflowError

    try:
        project = _compile(args)
    except LeoflowError as exc:
        return _report_failure(args, exc)
    summaries = [_summary(doc) for doc in project.documents]
    if args.json:
        errors = [{"kind": e.kind, "message": e.message, "file": e.file, "line": e.line}
                  for e in project.errors]
        print(json.dumps({"ok": not errors, "dags": summaries,
                          **({"errors": errors} if errors else {})}))
        return 1 if errors else 0
    for s in summaries:
        name = project.file_of(s["dag_id"]).name
        print(f"ok: {name}: DAG {s['dag_id']!r}: {s['tasks']} tasks, "
              f"{s['edges']} edge{'' if s['edges'] == 1 else 's'}, "
              f"schedule {s['schedule'] or 'None'}")
    return 1 if _file_errors(args, project) else 0


def run_compile(args: argparse.Namespace) -> int:
    from leoflow.errors import LeoflowError

    misuse = _image_flags_problem(args)
    if misuse:
        return _report_failure(args, LeoflowError(misuse))
    try:
        project = _compile(args)
    except LeoflowError as exc:
        return _report_failure(args, exc)
    documents = list(project.documents)
    if args.dag_id:
        documents = [d for d in documents if d["dag_id"] == args.dag_id]
        if not documents:
            known = ", ".join(d["dag_id"] for d in project.documents)
            return _report_failure(args, LeoflowError(
                f"{project.dag_file}: defines no DAG {args.dag_id!r} (it defines: {known})"))
    paths = _output_paths(args.output, project.project_dir, documents)
    written = _write_documents(documents, paths)
    image: dict[str, Any] | None = None
    if args.build or args.context:
        try:
            image, documents = _image(args, project, documents)
        except LeoflowError as exc:
            return _report_image_failure(args, exc)
        if image.get("reference"):
            written = _write_documents(documents, paths)  # now recording the image
    if args.json:
        errors = [{"kind": e.kind, "message": e.message, "file": e.file, "line": e.line}
                  for e in project.errors]
        print(json.dumps({"ok": not errors, "written": written,
                          **({"image": image} if image is not None else {}),
                          **({"errors": errors} if errors else {})}))
        return 1 if errors else 0
    for w in written:
        print(f"wrote {w['path']}: DAG {w['dag_id']!r}, {w['tasks']} tasks, "
              f"{w['content_hash'][:19]}"
              + (f", image {w['image']}" if w.get("image") else ""))
    return 1 if _file_errors(args, project) else 0


def _write_documents(documents: list[dict[str, Any]], paths: list[Path]
                     ) -> list[dict[str, Any]]:
    from leoflow.engine.spec.canonical import pretty_json

    written = []
    for doc, path in zip(documents, paths, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, pretty_json(doc))  # atomic, and never through a planted link
        written.append({**_summary(doc), "path": str(path), "image": doc.get("image")})
    return written


# -- compile --build ---------------------------------------------------------------------
def _image_flags_problem(args: argparse.Namespace) -> str | None:
    """Flags that make no sense together, named (the compile has not run yet)."""
    if args.push and not args.build:
        return "--push needs --build: the image is pushed after it is built"
    if not (args.build or args.context):
        for flag, value in (("--image", args.image), ("--base-image", args.base_image)):
            if value:
                return f"{flag} names the image to build: add --build (or --context DIR)"
    return None


def _image(args: argparse.Namespace, project: Any, documents: list[dict[str, Any]]
           ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Write the build context and, with --build, build (and push) the image.

    Returns what to report and the documents, recording the image once it is built.
    """
    from leoflow.engine import images
    from leoflow.engine.compiler.compile import with_image

    config = project.config
    say = _progress(args)
    plan = images.plan_image(
        dag_id=config.dag_id, python_version=config.python_version,
        dependencies=config.dependencies, declared_image=config.image, documents=documents,
        image=args.image, base_image=args.base_image, description=config.description)
    context = images.write_context(
        project.project_dir,
        images.context_dir_for(args.context, home=_home(), dag_id=config.dag_id), plan,
        documents)
    say(f"wrote {context.dockerfile} and its build context ({len(context.files)} files) "
        f"for {plan.image}")
    report: dict[str, Any] = {"image": plan.image, "context": str(context.path),
                              "dockerfile": str(context.dockerfile), "built": False,
                              "pushed": False, "reference": None}
    if not args.build:
        return report, documents
    built = images.build_image(context, push=args.push, progress=say)
    say(f"built {built.image}" + (f" ({built.image_id})" if built.image_id else "")
        + (f", pushed as {built.reference}" if built.pushed else ""))
    report.update(built=True, pushed=built.pushed, reference=built.reference,
                  image_id=built.image_id, digest=built.digest)
    return report, [with_image(doc, built.reference) for doc in documents]


def _progress(args: argparse.Namespace) -> Any:
    """Progress lines: on stdout, or on stderr when stdout carries --json."""
    stream = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    return say


def _report_image_failure(args: argparse.Namespace, exc: Exception) -> int:
    context = getattr(exc, "context", None)
    if args.json:
        print(json.dumps({"ok": False, "error": {
            "kind": "image_engine" if context is not None else "image",
            "message": str(exc), "context": str(context) if context else None}}))
    else:
        print(f"error: {exc}", file=sys.stderr)
    return 1


def _output_paths(output: str | None, project_dir: Path,
                  documents: list[dict[str, Any]]) -> list[Path]:
    from leoflow.errors import LeoflowError

    if output is None:
        if len(documents) == 1:
            return [project_dir / "dag.json"]
        return [project_dir / "dags" / f"{d['dag_id']}.json" for d in documents]
    out = Path(output)
    as_dir = out.is_dir() or output.endswith(("/", os.sep))
    if as_dir:
        return [out / f"{d['dag_id']}.json" for d in documents]
    if len(documents) > 1:
        ids = ", ".join(d["dag_id"] for d in documents)
        raise LeoflowError(f"the project defines {len(documents)} DAGs ({ids}); pass a folder "
                           "to -o, or choose one with --dag-id")
    return [out]
