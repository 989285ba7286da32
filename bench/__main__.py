"""``python -m bench [W6 ...] [--runs N] [--json]``: run workloads, print their figures."""

from __future__ import annotations

import argparse
import json
import sys

from bench.stats import machine
from bench.workloads import WORKLOADS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("workloads", nargs="*", help=f"ids to run (default all: "
                        f"{', '.join(WORKLOADS)})")
    parser.add_argument("--runs", type=int, default=5, help="repetitions (at least 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3 (BENCH.md asks for median/min/max over 3+)")
    chosen = [w.upper() for w in args.workloads] or list(WORKLOADS)
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    figures = [f for w in chosen for f in WORKLOADS[w](args.runs)]
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "figures": [f.as_dict() for f in figures]}, indent=2))
    else:
        print(f"machine: {info['cores']} cores, Python {info['python']}, {info['platform']}")
        for figure in figures:
            print(figure.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
