"""The ``leoflow`` command line. Thin: parse flags, call a function, print.

Heavy imports happen inside the command functions so that ``leoflow --help`` and
``leoflow --version`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from leoflow import __version__

# Modules that add their own sub-commands: each offers ``add_parser(subparsers)``.
COMMAND_MODULES = ("leoflow.app.cmd_project", "leoflow.app.cmd_run", "leoflow.app.cmd_db",
                   "leoflow.app.cmd_remote", "leoflow.app.lite", "leoflow.app.cmd_auth",
                   "leoflow.app.cmd_ui", "leoflow.app.cmd_providers")

EPILOG = """\
examples:
  leoflow lite                                 the local IDE, API and scheduler at :8088
  leoflow init my_dag                          scaffold my_dag/dag.py and my_dag/leoflow.yaml
  leoflow validate my_dag                      check the project; exit 0 or print file:line
  leoflow compile my_dag -o my_dag/dag.json    write the compiled, hashed spec
  leoflow run my_dag --conf '{"n": 3}'         run it once on the real path, print results
  leoflow db migrate                           bring the metadata database up to date

docs: docs/ in the project, or `leoflow <command> --help`
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leoflow",
        description="Leoflow: author DAGs the Airflow way, compile them, run them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"leoflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an optional part not installed
            if exc.name != name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from leoflow.errors import LeoflowError

    try:
        return int(args.func(args) or 0)
    except LeoflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a read-only or full disk: the path and the cause, no traceback
        from leoflow.engine.safe_files import os_error_line

        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
