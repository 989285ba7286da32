"""The agents' gRPC server: its port is bound first, and it serves once the service is wired.

Every agent's address holds the port, so the executors need it before the agent service
exists (that service reports to the scheduler, which needs the executors). Binding the port
at construction and registering the service at ``start`` lets the composition root build
the parts in the order of what each needs, and no agent can call before the service is
complete.
"""

from __future__ import annotations

import grpc

from leoflow.rpc import agent_pb2_grpc as pb_grpc

MAX_MESSAGE = 8 * 1024 * 1024  # bytes an agent may send in one message (log batches, XCom)


class AgentServer:
    """A ``grpc.aio`` server bound to ``host:port`` (``port`` 0: any free one); ``port`` is
    the one it got."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length",
                                                 MAX_MESSAGE)])
        bound = self._server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot listen on {host}:{port} for agents (is the port in use?)")
        self.port = bound

    async def start(self, service: pb_grpc.AgentServiceServicer) -> None:
        """Serve ``service`` (the agent service, wired) from now on."""
        pb_grpc.add_AgentServiceServicer_to_server(service, self._server)
        await self._server.start()

    async def stop(self, grace: float | None = None) -> None:
        await self._server.stop(grace)

