"""Tables of who may do what and what they did (docs/auth.md): users, API tokens, revoked
access tokens, the audit log, and the per-tenant secrets (variables, connections).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from leoflow.engine.store.tables.common import (
    DEFAULT_TENANT,
    ID_LEN,
    TENANT_LEN,
    UUID_LEN,
    metadata,
)
from leoflow.engine.store.types import UTCDateTime, json_type

# A person (or a CI robot) who calls the API. The password hash is argon2id (the PHC string
# carries its own parameters); role is one of permissions.ROLES.
user_account = Table(
    "user_account",
    metadata,
    Column("username", String(ID_LEN), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(20), nullable=False),
    Column("tenant", String(TENANT_LEN), nullable=False, default=DEFAULT_TENANT),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_user_account_tenant", "tenant"),
    Index("ix_user_account_role", "role"),
)

# Long-lived bearer tokens for CI, acting as their user. Only the SHA-256 of the token is
# stored; the plain token is shown once, when it is created.
api_token = Table(
    "api_token",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column(
        "username",
        String(ID_LEN),
        ForeignKey("user_account.username", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("description", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),  # null: until deleted
    UniqueConstraint("token_hash"),
    Index("ix_api_token_username", "username"),
)

# Access tokens (JWTs) revoked before their expiry, by their ``jti``; a row can go once the
# token it names has expired anyway.
revoked_token = Table(
    "revoked_token",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=False),
    Index("ix_revoked_token_expires_at", "expires_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("occurred_at", UTCDateTime, nullable=False),  # when
    Column("username", String(ID_LEN), nullable=True),  # who (null: the system itself)
    Column("event", String(100), nullable=False),  # what, e.g. "trigger", "pause", "clear"
    Column("dag_id", String(ID_LEN), nullable=True),
    Column("run_id", String(ID_LEN), nullable=True),
    Column("task_id", String(ID_LEN), nullable=True),
    Column("map_index", Integer, nullable=True),
    Column("try_number", Integer, nullable=True),
    Column("extra", json_type(none_as_null=True), nullable=True),
    Index("ix_audit_log_occurred_at", "occurred_at"),
    Index("ix_audit_log_dag_id", "dag_id"),
    sqlite_autoincrement=True,
)

# Airflow variables, per tenant. ``value`` holds Fernet ciphertext when ``is_encrypted``.
variable = Table(
    "variable",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("key", String(ID_LEN), primary_key=True),
    Column("value", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("is_encrypted", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Airflow connections, per tenant. ``password`` and ``extra`` hold Fernet ciphertext.
connection = Table(
    "connection",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("connection_id", String(ID_LEN), primary_key=True),
    Column("conn_type", String(500), nullable=False),
    Column("description", Text, nullable=True),
    Column("host", String(500), nullable=True),
    Column("login", Text, nullable=True),
    Column("schema", String(500), nullable=True),
    Column("port", Integer, nullable=True),
    Column("password", Text, nullable=True),
    Column("extra", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
