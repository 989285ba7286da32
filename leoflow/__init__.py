"""Leoflow: author DAGs the Airflow way, run them without Airflow's pains.

``from leoflow import DAG, task`` is all a DAG file needs. This module imports the standard
library only and stays fast, because it is imported inside every DAG's environment.
"""

from leoflow.sdk import *
from leoflow.sdk import __all__ as _sdk_all

__version__ = "0.1.0"
__all__ = [*_sdk_all, "__version__"]
