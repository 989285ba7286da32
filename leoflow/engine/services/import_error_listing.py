"""The import errors the Airflow face lists (``/api/v2/importErrors``): a tenant's page of
them, or one by id.

``include_unowned`` lets the default tenant also see errors of files no tenant owns (the
route decides it from the caller); each call opens its own read connection.
"""

from __future__ import annotations

from leoflow.engine.store import Store, listings
from leoflow.engine.store.rows import ImportErrorRow, Page


async def page_of_import_errors(store: Store, *, tenant: str, include_unowned: bool,
                                filename: str | None, filename_pattern: str | None,
                                filename_prefix: str | None, order: list[str], limit: int,
                                offset: int) -> Page[ImportErrorRow]:
    """One page of the import errors the tenant may see. Raises ``UnknownOrderField``."""
    async with store.connect() as conn:
        return await listings.list_import_errors(
            conn, tenant=tenant, include_unowned=include_unowned, filename=filename,
            filename_pattern=filename_pattern, filename_prefix=filename_prefix, order=order,
            limit=limit, offset=offset)


async def import_error(store: Store, error_id: int, *, tenant: str, include_unowned: bool
                       ) -> ImportErrorRow | None:
    """One import error the tenant may see, or None."""
    async with store.connect() as conn:
        return await listings.get_import_error(conn, error_id, tenant=tenant,
                                               include_unowned=include_unowned)
