"""Per-DAG virtual environments, made with uv and reused while their contents are unchanged.

Public face: ``EnvironmentManager`` (``ensure``/``find``/``describe``), ``Environment``, and
the errors. See docs/environments.md.
"""

from leoflow.engine.environments.errors import (
    DependencyInstallError,
    EnvironmentBuildError,
    PythonVersionNotFound,
    UvNotFound,
)
from leoflow.engine.environments.manager import Environment, EnvironmentManager, environment_key

__all__ = ["DependencyInstallError", "Environment", "EnvironmentBuildError",
           "EnvironmentManager", "PythonVersionNotFound", "UvNotFound", "environment_key"]
