"""The agent protocol: ``agent.proto`` and its generated stubs (``scripts/gen_rpc.py``).

Imported by both the engine's gRPC service and the agent; neither imports the other.
"""
