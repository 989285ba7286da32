"""Variables and connections of a tenant: encrypted at rest, masked on the way out, and
handed to a task as Airflow's environment variables.

* At rest: a variable's value and a connection's password and extra are Fernet ciphertext
  (``SecretCipher``); the other connection fields (host, login, port...) are not secret and
  stay readable, as in Airflow.
* Through the API: ``VariableView`` / ``ConnectionView`` carry what a client may see. A
  connection's password is always ``***``; its extra and a variable's JSON value have their
  sensitive entries (``password``, ``token``, ``api_key``...) masked, and a variable whose
  key is sensitive is masked whole (Airflow's rules, ``masking.py``). A PATCH that sends a
  ``***`` back keeps the stored secret.
* To a task: ``secrets_env`` gives ``AIRFLOW_VAR_<KEY>`` and ``AIRFLOW_CONN_<ID>`` (JSON
  form, which ``leoflow.sdk``'s ``Connection`` reads) for one tenant, decrypted; the agent
  service passes them to the task's process only.

Every method takes the caller's ``Principal`` and works inside its tenant only: another
tenant's objects do not exist for it (404), whatever its role.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leoflow.engine.auth.cipher import SecretCipher
from leoflow.engine.auth.errors import (
    AlreadyExistsError,
    InvalidInput,
    NotFoundError,
    check_text,
    storable_key,
)
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.masking.keys import MASK, mask_json_text, mask_variable, unmask_structure
from leoflow.engine.services.limits import (
    MAX_CONNECTION_EXTRA_CHARS,
    MAX_CONNECTION_SECRET_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_VARIABLE_VALUE_CHARS,
    check_text_size,
)
from leoflow.engine.store import Page, Store, audit
from leoflow.engine.store import connections as conn_repo
from leoflow.engine.store import variables as var_repo
from leoflow.engine.store.connections import ConnectionRow
from leoflow.engine.store.variables import VariableRow

log = logging.getLogger("leoflow.auth")

CONNECTION_ID_RE = re.compile(r"^[\w.-]+$")
VAR_PREFIX = "AIRFLOW_VAR_"
CONN_PREFIX = "AIRFLOW_CONN_"
KEY_LENGTH = 250
CONNECTION_ID_LENGTH = 200
# Field → longest value accepted (services/limits.py; None: not text).
CONNECTION_EDITABLE: dict[str, int | None] = {
    "conn_type": 500, "description": MAX_DESCRIPTION_CHARS, "host": 500,
    "login": MAX_NAME_CHARS, "schema": 500, "port": None,
    "password": MAX_CONNECTION_SECRET_CHARS, "extra": MAX_CONNECTION_EXTRA_CHARS}
VARIABLE_EDITABLE = ("value", "description")


@dataclass(frozen=True)
class VariableView:
    key: str
    value: str | None
    description: str | None
    is_encrypted: bool


@dataclass(frozen=True)
class ConnectionView:
    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema: str | None
    port: int | None
    password: str | None
    extra: str | None


def variable_text(value: Any) -> str | None:
    """Airflow stores a variable as text: strings as they are, other JSON values dumped."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


class SecretsService:
    def __init__(self, store: Store, cipher: SecretCipher, *,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.cipher = cipher
        self.clock = clock

    # -- variables ----------------------------------------------------------------------------

    def _variable_view(self, row: VariableRow) -> VariableView:
        value = self._variable_value(row)
        return VariableView(row.key, mask_variable(row.key, value), row.description,
                            row.is_encrypted)

    def _variable_value(self, row: VariableRow) -> str | None:
        if not row.is_encrypted:
            return row.value
        return self.cipher.decrypt(row.value, what=f"variable {row.key!r}")

    async def list_variables(self, who: Principal, *, limit: int = 50, offset: int = 0,
                             order: str = "key", key_pattern: str | None = None
                             ) -> Page[VariableView]:
        if key_pattern is not None and "\x00" in key_pattern:
            return Page((), 0)
        async with self.store.connect() as conn:
            page = await var_repo.list_variables(conn, who.tenant, key_pattern=key_pattern,
                                                 limit=limit, offset=offset, order=order)
        return Page(tuple(self._variable_view(r) for r in page.items), page.total)

    async def get_variable(self, who: Principal, key: str) -> VariableView:
        if not storable_key(key, KEY_LENGTH):
            raise _variable_not_found(key)
        async with self.store.connect() as conn:
            row = await var_repo.get_variable(conn, who.tenant, key)
        if row is None:
            raise _variable_not_found(key)
        return self._variable_view(row)

    async def create_variable(self, who: Principal, key: str, value: Any, *,
                              description: str | None = None) -> VariableView:
        check_text(key, "key", max_length=KEY_LENGTH, required=True)
        check_text(description, "description", max_length=MAX_DESCRIPTION_CHARS)
        text = variable_text(value)
        check_text_size(text, "value", MAX_VARIABLE_VALUE_CHARS)
        async with self.store.begin() as conn:
            row = await var_repo.create_variable(
                conn, who.tenant, key, self.cipher.encrypt(text), description=description,
                is_encrypted=True, now=self.clock())
            if row is None:
                raise AlreadyExistsError(f"The Variable with key: `{key}` already exists",
                                         field="key")
            await audit.record_event(conn, "post_variable", username=who.username,
                                     occurred_at=self.clock(), extra={"key": key})
        return self._variable_view(row)

    async def update_variable(self, who: Principal, key: str,
                              changes: Mapping[str, Any]) -> VariableView:
        """Change ``value`` and/or ``description``. A value that is the masked form of the
        stored one (``***`` in place of secrets) keeps the stored secrets."""
        unknown = sorted(set(changes) - set(VARIABLE_EDITABLE))
        if unknown:
            raise InvalidInput(f"cannot change variable field(s) {', '.join(unknown)}",
                               field=unknown[0])
        if not storable_key(key, KEY_LENGTH):
            raise _variable_not_found(key)
        check_text(changes.get("description"), "description",
                   max_length=MAX_DESCRIPTION_CHARS)
        if "value" in changes:
            check_text_size(variable_text(changes["value"]), "value", MAX_VARIABLE_VALUE_CHARS)
        async with self.store.begin() as conn:
            row = await var_repo.get_variable(conn, who.tenant, key)
            if row is None:
                raise _variable_not_found(key)
            values: dict[str, Any] = {}
            if "description" in changes:
                values["description"] = changes["description"]
            if "value" in changes:
                old = self._variable_value(row)
                text = _unmask_text(variable_text(changes["value"]), old,
                                    mask_variable(key, old))
                values.update(value=self.cipher.encrypt(text), is_encrypted=True)
            updated = await var_repo.update_variable(conn, who.tenant, key, now=self.clock(),
                                                     **values)
            if updated is None:  # deleted by another transaction since it was read
                raise _variable_not_found(key)
            await audit.record_event(conn, "patch_variable", username=who.username,
                                     occurred_at=self.clock(),
                                     extra={"key": key, "fields": sorted(changes)})
        return self._variable_view(updated)

    async def delete_variable(self, who: Principal, key: str) -> None:
        if not storable_key(key, KEY_LENGTH):
            raise _variable_not_found(key)
        async with self.store.begin() as conn:
            if not await var_repo.delete_variable(conn, who.tenant, key):
                raise _variable_not_found(key)
            await audit.record_event(conn, "delete_variable", username=who.username,
                                     occurred_at=self.clock(), extra={"key": key})

    # -- connections --------------------------------------------------------------------------

    def _connection_view(self, row: ConnectionRow) -> ConnectionView:
        extra = self.cipher.decrypt(row.extra, what=f"the extra of {row.connection_id!r}")
        return ConnectionView(
            row.connection_id, row.conn_type, row.description, row.host, row.login,
            row.schema, row.port, MASK if row.password is not None else None,
            mask_json_text(extra, opaque=True))

    async def list_connections(self, who: Principal, *, limit: int = 50, offset: int = 0,
                               order: str = "connection_id", id_pattern: str | None = None
                               ) -> Page[ConnectionView]:
        if id_pattern is not None and "\x00" in id_pattern:
            return Page((), 0)
        async with self.store.connect() as conn:
            page = await conn_repo.list_connections(conn, who.tenant, id_pattern=id_pattern,
                                                    limit=limit, offset=offset, order=order)
        return Page(tuple(self._connection_view(r) for r in page.items), page.total)

    async def get_connection(self, who: Principal, connection_id: str) -> ConnectionView:
        if not storable_key(connection_id, KEY_LENGTH):
            raise _connection_not_found(connection_id)
        async with self.store.connect() as conn:
            row = await conn_repo.get_connection(conn, who.tenant, connection_id)
        if row is None:
            raise _connection_not_found(connection_id)
        return self._connection_view(row)

    async def create_connection(self, who: Principal, connection_id: str,
                                fields: Mapping[str, Any]) -> ConnectionView:
        check_text(connection_id, "connection_id", max_length=CONNECTION_ID_LENGTH,
                   required=True)
        if not CONNECTION_ID_RE.match(connection_id):
            raise InvalidInput("connection_id may hold letters, digits, '_', '.' and '-' only",
                               field="connection_id")
        values = _connection_fields(fields)
        check_text(values.get("conn_type"), "conn_type", required=True)
        values["password"] = self.cipher.encrypt(values.get("password"))
        values["extra"] = self.cipher.encrypt(values.get("extra"))
        async with self.store.begin() as conn:
            row = await conn_repo.create_connection(conn, who.tenant, connection_id,
                                                    now=self.clock(), **values)
            if row is None:
                raise AlreadyExistsError(
                    f"The connection with connection_id: `{connection_id}` already exists",
                    field="connection_id")
            await audit.record_event(conn, "post_connection", username=who.username,
                                     occurred_at=self.clock(),
                                     extra={"connection_id": connection_id})
        return self._connection_view(row)

    async def update_connection(self, who: Principal, connection_id: str,
                                changes: Mapping[str, Any]) -> ConnectionView:
        """Change some fields. A password of ``***``, or ``***`` entries in the extra (what
        a masked read shows), keep the stored secrets."""
        if not storable_key(connection_id, KEY_LENGTH):
            raise _connection_not_found(connection_id)
        values = _connection_fields(changes)
        if "conn_type" in values:
            check_text(values["conn_type"], "conn_type", required=True)
        async with self.store.begin() as conn:
            row = await conn_repo.get_connection(conn, who.tenant, connection_id)
            if row is None:
                raise _connection_not_found(connection_id)
            if "password" in values:
                if values["password"] == MASK:
                    del values["password"]
                else:
                    values["password"] = self.cipher.encrypt(values["password"])
            if "extra" in values:
                old = self.cipher.decrypt(row.extra, what=f"the extra of {connection_id!r}")
                values["extra"] = self.cipher.encrypt(
                    _unmask_text(values["extra"], old, mask_json_text(old, opaque=True)))
            updated = await conn_repo.update_connection(conn, who.tenant, connection_id,
                                                        now=self.clock(), **values)
            if updated is None:  # deleted by another transaction since it was read
                raise _connection_not_found(connection_id)
            await audit.record_event(conn, "patch_connection", username=who.username,
                                     occurred_at=self.clock(),
                                     extra={"connection_id": connection_id,
                                            "fields": sorted(changes)})
        return self._connection_view(updated)

    async def delete_connection(self, who: Principal, connection_id: str) -> None:
        if not storable_key(connection_id, KEY_LENGTH):
            raise _connection_not_found(connection_id)
        async with self.store.begin() as conn:
            if not await conn_repo.delete_connection(conn, who.tenant, connection_id):
                raise _connection_not_found(connection_id)
            await audit.record_event(conn, "delete_connection", username=who.username,
                                     occurred_at=self.clock(),
                                     extra={"connection_id": connection_id})

    # -- delivery to tasks --------------------------------------------------------------------

    async def environment(self, tenant: str) -> dict[str, str]:
        """See ``secrets_env``."""
        async with self.store.connect() as conn:
            variables = await var_repo.all_variables(conn, tenant)
            connections = await conn_repo.all_connections(conn, tenant)
        env: dict[str, str] = {}
        for var in variables:
            value = self._variable_value(var)
            name = VAR_PREFIX + var.key.upper()
            if value is None or not _env_safe(name, value):
                continue
            env[name] = value
        for row in connections:
            name = CONN_PREFIX + row.connection_id.upper()
            document = _connection_json(row, self.cipher)
            if _env_safe(name, document):
                env[name] = document
        return env


async def secrets_env(store: Store, tenant: str, cipher: SecretCipher) -> dict[str, str]:
    """The variables and connections of ``tenant`` as a task's environment, decrypted:
    ``AIRFLOW_VAR_<KEY>`` (the value) and ``AIRFLOW_CONN_<CONN_ID>`` (Airflow's JSON form:
    ``{"conn_type", "host", "login", "password", "schema", "port", "extra", "description"}``),
    names upper-cased as Airflow looks them up. Give it to the task's process only, never
    log it. ``cipher`` is ``SecretCipher(fernet_keys(config))`` or ``AuthService.cipher``."""
    service = SecretsService(store, cipher, clock=lambda: datetime.now(UTC))
    return await service.environment(tenant)


def _connection_json(row: ConnectionRow, cipher: SecretCipher) -> str:
    extra_text = cipher.decrypt(row.extra, what=f"the extra of {row.connection_id!r}")
    extra: Any = extra_text
    if extra_text:
        try:
            extra = json.loads(extra_text)
        except ValueError:
            extra = extra_text
    document = {"conn_type": row.conn_type, "description": row.description,
                "host": row.host, "login": row.login,
                "password": cipher.decrypt(row.password,
                                           what=f"the password of {row.connection_id!r}"),
                "schema": row.schema, "port": row.port, "extra": extra or None}
    return json.dumps({k: v for k, v in document.items() if v is not None})


def _env_safe(name: str, value: str) -> bool:
    if "=" in name or "\0" in name or "\0" in value:
        log.warning("%s cannot be passed as an environment variable; skipped", name)
        return False
    return True


def _unmask_text(new: str | None, old: str | None, shown: str | None) -> str | None:
    """``new`` with the ``***`` that a masked read (``shown``, the masked form of the stored
    ``old``) put in, replaced by the stored values: sending back exactly what was shown
    changes nothing, and an edited JSON document keeps its masked entries."""
    if new is None or old is None:
        return new
    if new == shown:
        return old
    try:
        new_doc, old_doc = json.loads(new), json.loads(old)
    except ValueError:
        return new
    if not isinstance(new_doc, (dict, list)):
        return new
    restored = unmask_structure(new_doc, old_doc)
    return new if restored == new_doc else json.dumps(restored)


def _connection_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - set(CONNECTION_EDITABLE))
    if unknown:
        raise InvalidInput(f"cannot set connection field(s) {', '.join(unknown)}",
                           field=unknown[0])
    values = dict(fields)
    for name, value in values.items():
        if name == "port":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value <= 65535):
                raise InvalidInput(f"port must be a whole number from 0 to 65535, got "
                                   f"{value!r}", field="port")
        else:
            check_text(value, name, max_length=CONNECTION_EDITABLE[name])
    extra = values.get("extra")
    if extra == "":
        values["extra"] = None
    elif extra is not None:
        try:
            document = json.loads(extra)
        except (TypeError, ValueError):
            document = None
        if not isinstance(document, dict):
            raise InvalidInput("extra must be a JSON object, e.g. '{\"key\": \"value\"}'",
                               field="extra")
    return values


def _variable_not_found(key: str) -> NotFoundError:
    return NotFoundError(f"The Variable with key: `{key}` was not found", field="key")


def _connection_not_found(connection_id: str) -> NotFoundError:
    return NotFoundError(f"The Connection with connection_id: `{connection_id}` was not found",
                         field="connection_id")
