"""What every table of the schema shares: the ``MetaData`` they register in, its naming
convention, and the widths of the columns that recur across tables (ids, states, tenants).

The tables themselves are in the sibling modules, grouped by concern; the package's
``__init__`` gathers them, so ``tables.metadata`` is the whole schema.
"""

from __future__ import annotations

from sqlalchemy import MetaData

# Named constraints are required for ALTERs on SQLite (batch mode) and make error messages
# and migrations readable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LEN = 250  # as Airflow: dag_id, task_id and run_id fit in 250 characters
UUID_LEN = 36  # canonical text form of a UUID, e.g. str(uuid.uuid4())
STATE_LEN = 20

metadata = MetaData(naming_convention=NAMING_CONVENTION)

TENANT_LEN = 100
DEFAULT_TENANT = "default"
