"""The checked-in gRPC stubs match agent.proto (regenerate with scripts/gen_rpc.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_rpc", ROOT / "scripts" / "gen_rpc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stubs_are_up_to_date_with_the_proto(tmp_path):
    fresh = _generator().generate(tmp_path)
    for path in fresh:
        checked_in = ROOT / path.relative_to(tmp_path)
        assert checked_in.exists(), f"{checked_in} is missing: run python scripts/gen_rpc.py"
        assert checked_in.read_text() == path.read_text(), (
            f"{checked_in.name} differs from agent.proto: run python scripts/gen_rpc.py")


def test_stubs_import_and_describe_the_service():
    from leoflow.rpc import agent_pb2, agent_pb2_grpc

    service = agent_pb2.DESCRIPTOR.services_by_name["AgentService"]
    assert {m.name for m in service.methods} == {
        "Authenticate", "FetchTask", "StreamLogs", "PushXCom", "PullXCom", "Heartbeat",
        "ReportState", "TaskState", "AssetEvents", "AssetState", "DagRuns"}
    assert hasattr(agent_pb2_grpc, "AgentServiceStub")
