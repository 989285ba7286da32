"""The agent tests' ``project`` fixture (a DAG folder written from source), reused."""

from tests.integration.agent.conftest import project

__all__ = ["project"]
