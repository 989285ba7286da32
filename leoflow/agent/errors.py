"""Why an agent stops before it could report a state, each with the exit code it ends with.

A task's own failure is not an error of the agent: it is reported as the ``failed`` state
and the agent exits 0. These are the cases where the control plane never heard the outcome.
"""

from __future__ import annotations

from leoflow.errors import LeoflowError

EXIT_REPORTED = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_REJECTED = 4


class AgentError(LeoflowError):
    """The agent could not do its job; ``exit_code`` tells the executor which way."""

    exit_code = EXIT_INTERNAL


class AgentConfigError(AgentError):
    """``LEOFLOW_AGENT_ADDRESS``, ``LEOFLOW_TI_ID`` or ``LEOFLOW_TOKEN`` is missing or bad."""

    exit_code = EXIT_CONFIG


class ControlPlaneUnreachable(AgentError):
    """Every attempt to reach the control plane failed (down, wrong address, network)."""

    exit_code = EXIT_UNREACHABLE


class AgentRejected(AgentError):
    """The control plane refused this agent: wrong, stale or reused token, unknown try."""

    exit_code = EXIT_REJECTED
