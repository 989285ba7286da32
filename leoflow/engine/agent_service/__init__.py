"""The gRPC service agents talk to (see leoflow/rpc/agent.proto), inside the control plane."""
