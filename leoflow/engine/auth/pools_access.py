"""Who may change pools: the operator's tenant only.

Pools bound what the executors run at once for every tenant: ``default_pool`` holds the
tasks of all of them. A tenant that could set a pool to 0 slots, or delete one, would stop
the other tenants' work, so creating, changing and deleting pools needs the pool
permission (the Op role) *in the ``default`` tenant*, the tenant of the control plane's
operator. Other tenants read pools (their tasks use them) and change none: they ask the
operator, as they would for more machines.
"""

from __future__ import annotations

from leoflow.engine.auth.errors import ForbiddenChange
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.store.tables import DEFAULT_TENANT


def check_may_change_pools(principal: Principal) -> None:
    """``ForbiddenChange`` (403) unless ``principal`` belongs to the operator's tenant."""
    if principal.tenant != DEFAULT_TENANT:
        raise ForbiddenChange(
            f"pools are shared by every tenant: only the operator's tenant "
            f"({DEFAULT_TENANT!r}) may create, change or delete them, not {principal.tenant!r}",
            field="tenant")
