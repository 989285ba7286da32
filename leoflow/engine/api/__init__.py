"""The HTTP API: Airflow-compatible /api/v2, /auth, and Leoflow's own routes."""

from leoflow.engine.api.app import create_api
from leoflow.engine.api.context import ApiContext, Authenticator

__all__ = ["ApiContext", "Authenticator", "create_api"]
