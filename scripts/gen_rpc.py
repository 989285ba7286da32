"""Regenerate the checked-in gRPC stubs from leoflow/rpc/agent.proto.

Usage: python scripts/gen_rpc.py [OUTPUT_ROOT]   (default: the repository root)

The stubs are checked in (as Temporal and Dagster do) so that installing Leoflow never needs
the protobuf compiler; tests/unit/rpc/test_stubs.py fails when they drift from the .proto.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = Path("leoflow/rpc/agent.proto")


def generate(out_root: Path) -> list[Path]:
    from grpc_tools import protoc

    (out_root / PROTO.parent).mkdir(parents=True, exist_ok=True)
    if out_root != ROOT:
        shutil.copy(ROOT / PROTO, out_root / PROTO)
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main([
        "grpc_tools.protoc", f"-I{out_root}", f"-I{include}",
        f"--python_out={out_root}", f"--grpc_python_out={out_root}", f"--pyi_out={out_root}",
        str(out_root / PROTO),
    ])
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    stem = out_root / PROTO.parent / "agent"
    return [Path(f"{stem}_pb2.py"), Path(f"{stem}_pb2.pyi"), Path(f"{stem}_pb2_grpc.py")]


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    for path in generate(target):
        print(f"wrote {path}")
