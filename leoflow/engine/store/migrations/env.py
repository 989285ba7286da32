"""Alembic environment: runs on the connection handed over by ``leoflow.engine.store.schema``.

There is no URL and no ``alembic.ini``: the store decides where the database is, opens the
connection (with its SQLite pragmas and transaction handling) and passes it in through
``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from leoflow.engine.store.schema import VERSION_TABLE
from leoflow.engine.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Leoflow migrations run through `leoflow db migrate` or "
        "leoflow.engine.store.schema.migrate(), not through the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER constraints; batch mode recreates the table instead.
    render_as_batch=True,
    # The store emits BEGIN itself on SQLite too, so DDL is transactional on both dialects:
    # a failed migration leaves the schema as it was.
    transactional_ddl=True,
    compare_type=True,
)

with context.begin_transaction():
    context.run_migrations()
