"""leoflow-agent: runs one try of one task instance for the control plane.

It authenticates over gRPC (``leoflow/rpc/agent.proto``), fetches the task, runs the user's
callable in the DAG's own interpreter (``leoflow.sdk.task_runner``) or a bash command,
streams the output as logs, pushes XComs and reports the state. Public face: ``main`` (the
console script), ``run_agent`` and ``AgentConfig`` (to run an agent in-process), and the
exit codes.
"""

from leoflow.agent.config import AgentConfig
from leoflow.agent.errors import (
    EXIT_CONFIG,
    EXIT_INTERNAL,
    EXIT_REJECTED,
    EXIT_REPORTED,
    EXIT_UNREACHABLE,
)


def main(argv: list[str] | None = None) -> int:
    from leoflow.agent.main import main as _main

    return _main(argv)


async def run_agent(config: AgentConfig) -> int:
    from leoflow.agent.agent import run_agent as _run_agent

    return await _run_agent(config)


__all__ = ["EXIT_CONFIG", "EXIT_INTERNAL", "EXIT_REJECTED", "EXIT_REPORTED", "EXIT_UNREACHABLE",
           "AgentConfig", "main", "run_agent"]
