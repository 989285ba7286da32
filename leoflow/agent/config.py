"""The agent's settings, read from its environment (set by the executor that starts it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from leoflow.agent.errors import AgentConfigError

ENV_ADDRESS = "LEOFLOW_AGENT_ADDRESS"
ENV_TI = "LEOFLOW_TI_ID"
ENV_TOKEN = "LEOFLOW_TOKEN"
ENV_ATTEMPTS = "LEOFLOW_AGENT_CONNECT_ATTEMPTS"
ENV_BACKOFF = "LEOFLOW_AGENT_CONNECT_BACKOFF"
ENV_PATIENCE = "LEOFLOW_AGENT_RESTART_PATIENCE"


@dataclass(frozen=True)
class AgentConfig:
    """Where the control plane is and who this agent is.

    ``address`` is one ``host:port`` or several, comma-separated (``addresses``): the
    replicas of a control plane, tried in order; on ``UNAVAILABLE`` the agent moves on to
    the next one and resumes there (its token is valid on every replica). In a cluster one
    Service address stands for them all.
    ``connect_attempts`` and ``connect_backoff`` (the first delay, doubled after each
    failure) bound how long the agent waits for an unreachable control plane: by default
    5 attempts over about 10 s (delays 0.67, 1.33, 2.67, 5.33 s).
    ``restart_patience``: once the control plane has answered, how long (seconds) a call
    keeps retrying while it is unreachable (restarting after a crash): 120 s by default.
    """

    address: str
    ti_id: str
    token: str
    connect_attempts: int = 5
    connect_backoff: float = 2 / 3
    restart_patience: float = 120.0

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.address.split(",") if a.strip())

    def __repr__(self) -> str:  # never print the token
        return f"AgentConfig(address={self.address!r}, ti_id={self.ti_id!r})"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AgentConfig:
        missing = [name for name in (ENV_ADDRESS, ENV_TI, ENV_TOKEN) if not environ.get(name)]
        if missing:
            raise AgentConfigError(
                f"{', '.join(missing)} not set: leoflow-agent is started by the control "
                "plane's executor, which sets the address, the task instance id and its token")
        address = environ[ENV_ADDRESS].strip()
        for one in address.split(","):
            host, _, port = one.strip().rpartition(":")
            if not host or not port.isdigit():
                raise AgentConfigError(
                    f"{ENV_ADDRESS}={address!r}: {one.strip()!r} is not host:port (give "
                    "one address, or several separated by commas)")
        try:
            attempts = int(environ.get(ENV_ATTEMPTS, "5"))
            backoff = float(environ.get(ENV_BACKOFF, str(2 / 3)))
            patience = float(environ.get(ENV_PATIENCE, "120"))
        except ValueError as exc:
            raise AgentConfigError(f"bad retry setting: {exc}") from None
        return cls(address=address, ti_id=environ[ENV_TI].strip(),
                   token=environ[ENV_TOKEN].strip(), connect_attempts=max(1, attempts),
                   connect_backoff=max(0.0, backoff),
                   restart_patience=max(0.0, patience))
