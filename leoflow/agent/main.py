"""``leoflow-agent``: run one try of one task instance, then exit.

Started by an executor with ``LEOFLOW_AGENT_ADDRESS``, ``LEOFLOW_TI_ID`` and
``LEOFLOW_TOKEN`` in its environment. Exit codes: 0 a state was reported (whatever it was),
1 internal error, 2 bad configuration, 3 control plane unreachable, 4 rejected by the
control plane (token). See docs/agent.md.
"""

from __future__ import annotations

import asyncio
import os
import sys

from leoflow.agent.errors import AgentConfigError


def main(argv: list[str] | None = None) -> int:
    from leoflow.agent.agent import run_agent
    from leoflow.agent.config import AgentConfig

    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        config = AgentConfig.from_environ(os.environ)
    except AgentConfigError as exc:
        print(f"leoflow-agent: {exc}", file=sys.stderr)
        return exc.exit_code
    return asyncio.run(run_agent(config))


if __name__ == "__main__":
    sys.exit(main())
