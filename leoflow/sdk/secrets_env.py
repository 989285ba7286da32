"""Variables and connections inside a task, the Airflow way, read from the environment.

The control plane hands a task its variables and connections as environment variables
(``AIRFLOW_VAR_<KEY>``, ``AIRFLOW_CONN_<CONN_ID>``), exactly like Airflow's environment
secrets backend, so ``Variable.get("k")`` and ``BaseHook.get_connection("db")`` work
unchanged in user code and nothing else (no database, no API call) is needed at run time.

Every lookup takes an optional ``environ`` mapping: the agent renders templates
(``{{ var.value.k }}``, ``{{ conn.db.host }}``) with the task's environment map rather than
its own process environment, which may hold control-plane secrets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from leoflow.sdk.errors import AirflowException

VAR_PREFIX = "AIRFLOW_VAR_"
CONN_PREFIX = "AIRFLOW_CONN_"


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()


class AirflowNotFoundException(AirflowException):
    """A connection (or other named object) does not exist; Airflow's name and meaning."""


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


class Variable:
    """``Variable.get(key)``: a value from ``AIRFLOW_VAR_<KEY>`` (key upper-cased).

    Accepts both spellings of the default: Airflow 2/``airflow.models`` ``default_var=`` and
    Airflow 3/``airflow.sdk`` ``default=``. A missing variable without a default raises
    ``KeyError`` with Airflow's message.
    """

    @classmethod
    def get(cls, key: str, default_var: Any = NOTSET, deserialize_json: bool = False, *,
            default: Any = NOTSET, environ: Mapping[str, str] | None = None) -> Any:
        fallback = default if default is not NOTSET else default_var
        raw = _env(environ).get(VAR_PREFIX + key.upper())
        if raw is None:
            if fallback is not NOTSET:
                return fallback
            raise KeyError(f"Variable {key} does not exist (set {VAR_PREFIX}{key.upper()} "
                           "in the task's environment, or add it to the DAG's variables)")
        if deserialize_json:
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"Variable {key} is not valid JSON: {exc}") from None
        return raw

    @classmethod
    def set(cls, key: str, value: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"Variable.set({key!r}) is not supported inside a Leoflow task: variables are "
            "read-only at run time; pass data between tasks with XCom (return a value)")


def _port(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


class Connection:
    """A connection's parts (Airflow's ``Connection``), parsed from a URI or JSON."""

    # declared here because ``__init__`` reads them from another Connection before it sets
    # its own
    conn_type: str | None
    host: str | None
    login: str | None
    password: str | None
    schema: str | None
    port: int | None

    def __init__(self, conn_id: str | None = None, conn_type: str | None = None,
                 description: str | None = None, host: str | None = None,
                 login: str | None = None, password: str | None = None,
                 schema: str | None = None, port: int | None = None,
                 extra: str | dict[str, Any] | None = None, uri: str | None = None) -> None:
        self.conn_id = conn_id
        self.description = description
        if uri is not None:
            parsed = Connection.from_uri(conn_id or "", uri)
            conn_type, host, login, password = (parsed.conn_type, parsed.host, parsed.login,
                                                parsed.password)
            schema, port, extra = parsed.schema, parsed.port, parsed.extra
        self.conn_type = conn_type
        self.host = host
        self.login = login
        self.password = password
        self.schema = schema
        self.port = _port(port)
        self.extra: str | None = json.dumps(extra) if isinstance(extra, dict) else extra

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` as a dict (``{}`` when empty or not a JSON object)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """Airflow's URI form: ``type://login:password@host:port/schema?extra=params``."""
        if "://" not in uri:
            raise ValueError(f"connection {conn_id!r}: {uri!r} is not a URI "
                             "(expected type://login:password@host:port/schema)")
        scheme, rest = uri.split("://", 1)
        # urlsplit needs a scheme it knows to parse the authority; ours may hold '_' or '-'
        parts = urlsplit("x://" + rest)
        conn_type = scheme.replace("-", "_")
        if conn_type == "postgresql":
            conn_type = "postgres"
        query = parse_qsl(parts.query, keep_blank_values=True)
        extra: dict[str, Any] = {}
        for key, value in query:
            if key == "__extra__":
                loaded = json.loads(value)
                if isinstance(loaded, dict):
                    extra.update(loaded)
            else:
                extra[key] = value
        return cls(
            conn_id=conn_id, conn_type=conn_type,
            host=unquote(parts.hostname) if parts.hostname else None,
            login=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            schema=unquote(parts.path[1:]) if parts.path.startswith("/") and len(parts.path) > 1
            else None,
            port=parts.port, extra=extra or None)

    @classmethod
    def from_json(cls, conn_id: str, value: str) -> Connection:
        """Airflow's JSON form: ``{"conn_type": ..., "host": ..., "extra": {...}}``."""
        data = json.loads(value)
        if not isinstance(data, dict):
            raise ValueError(f"connection {conn_id!r}: JSON must be an object")
        extra = data.get("extra")
        return cls(conn_id=conn_id, conn_type=data.get("conn_type"),
                   description=data.get("description"), host=data.get("host"),
                   login=data.get("login"), password=data.get("password"),
                   schema=data.get("schema"), port=data.get("port"),
                   extra=extra if isinstance(extra, (dict, str)) or extra is None
                   else json.dumps(extra))

    def get_uri(self) -> str:
        """The connection as a URI, in the form ``from_uri`` reads back."""
        uri = f"{(self.conn_type or '').replace('_', '-')}://"
        auth = ""
        if self.login is not None:
            auth += quote(self.login, safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        if auth:
            uri += auth + "@"
        if self.host:
            uri += quote(self.host, safe="")
        if self.port is not None:
            uri += f":{self.port}"
        if self.schema:
            uri += "/" + quote(self.schema, safe="")
        extra = self.extra_dejson
        if extra:
            if all(isinstance(v, str) for v in extra.values()):
                uri += ("/" if not self.schema else "") + "?" + urlencode(extra)
            else:
                uri += ("/" if not self.schema else "") + "?" + urlencode(
                    {"__extra__": json.dumps(extra)})
        return uri

    @classmethod
    def get(cls, conn_id: str, environ: Mapping[str, str] | None = None) -> Connection:
        """Airflow 3's ``Connection.get(conn_id)``."""
        return get_connection(conn_id, environ)

    get_connection_from_secrets = get

    def __repr__(self) -> str:
        return f"<Connection {self.conn_id!r} type={self.conn_type!r} host={self.host!r}>"


def get_connection(conn_id: str, environ: Mapping[str, str] | None = None) -> Connection:
    """Parse ``AIRFLOW_CONN_<CONN_ID>`` (a URI, or JSON when it starts with ``{``)."""
    raw = _env(environ).get(CONN_PREFIX + conn_id.upper())
    if raw is None:
        raise AirflowNotFoundException(
            f"The conn_id `{conn_id}` isn't defined (set {CONN_PREFIX}{conn_id.upper()} in the "
            "task's environment, or add it to the DAG's connections)")
    raw = raw.strip()
    if raw.startswith("{"):
        return Connection.from_json(conn_id, raw)
    return Connection.from_uri(conn_id, raw)


class BaseHook:
    """Only what tasks use from Airflow's ``BaseHook``: ``get_connection``."""

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        return get_connection(conn_id)
