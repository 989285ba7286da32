"""Secrets hidden from what the control plane shows of a task's work: returned XCom values
(the API and the IDE) and the trigger runner's log lines (docs/security.md, "Secrets in
logs").

The rules are Airflow's secrets masker's, as the agent applies them to a try's log lines
(``leoflow.sdk.secrets_masker``; the engine cannot import the SDK, so the few lines that
find the secrets are written here again over the same list, ``keys.SENSITIVE_NAMES``,
and a test keeps the two equal): a variable's value when its key is sensitive, the
sensitive entries of a JSON variable, a connection's password and the sensitive entries of
its extra. Each is replaced by ``***`` wherever it appears in a string, as is its
URL-encoded form; values shorter than ``MIN_LENGTH`` and ``airflow`` are left alone.

Stored values are never changed: a downstream task pulls the real value, as in Airflow
(which masks logs and rendered fields, not XCom storage).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from leoflow.engine.masking.keys import MASK, is_sensitive

MIN_LENGTH = 5
NEVER_MASKED = frozenset({"airflow"})
VAR_PREFIX = "AIRFLOW_VAR_"
CONN_PREFIX = "AIRFLOW_CONN_"


def _sensitive_entries(document: Any) -> Iterable[str]:
    if isinstance(document, dict):
        for key, item in document.items():
            if isinstance(key, str) and is_sensitive(key):
                yield from _all_strings(item)
            else:
                yield from _sensitive_entries(item)
    elif isinstance(document, list):
        for item in document:
            yield from _sensitive_entries(item)


def _all_strings(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _all_strings(item)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield str(value)


def connection_secrets(connection: Mapping[str, Any]) -> set[str]:
    """The password and the sensitive entries of the extra of a connection (Airflow's JSON
    form: ``{"password": ..., "extra": {...} or "{...}"}``)."""
    found = {str(connection["password"])} if connection.get("password") else set()
    extra = connection.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            extra = None
    return found | set(_sensitive_entries(extra))


def environment_secrets(env: Mapping[str, str]) -> set[str]:
    """The secrets among ``AIRFLOW_VAR_*`` and ``AIRFLOW_CONN_*`` (JSON or URI form)."""
    found: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        if name.startswith(VAR_PREFIX):
            if is_sensitive(name[len(VAR_PREFIX):]):
                found.add(value)
                continue
            with contextlib.suppress(ValueError):
                found |= set(_sensitive_entries(json.loads(value)))
        elif name.startswith(CONN_PREFIX):
            try:
                document = json.loads(value)
            except ValueError:
                document = None
            if isinstance(document, dict):
                found |= connection_secrets(document)
            elif "://" in value:
                try:
                    password = urlsplit(value).password
                except ValueError:
                    password = None
                if password:
                    found.add(unquote(password))
    return found


class ValueMasker:
    """Hides a set of secret strings in text and in JSON values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def __len__(self) -> int:
        return len(self._secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = False
        for secret in secrets:
            for form in {secret, quote(secret, safe=""), quote(secret)}:
                if len(form) >= MIN_LENGTH and form.lower() not in NEVER_MASKED \
                        and form not in self._secrets:
                    self._secrets.add(form)
                    new = True
        if new:  # longest first: a secret containing another is hidden whole
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def redact(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def redact_value(self, value: Any) -> Any:
        """``value`` with entries under sensitive keys replaced and secrets hidden in every
        string (Airflow's ``redact`` of rendered fields)."""
        if isinstance(value, dict):
            return {k: (MASK if isinstance(k, str) and is_sensitive(k)
                        and v not in (None, "") else self.redact_value(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_value(v) for v in value]
        if isinstance(value, str):
            return self.redact(value)
        return value


async def tenant_masker(auth: Any, tenant: str) -> ValueMasker:
    """A masker of ``tenant``'s variables and connections, the secrets its tasks receive
    (``auth`` is the ``AuthService``; without one, a masker of sensitive keys only)."""
    secrets = getattr(auth, "secrets", None)
    if secrets is None:
        return ValueMasker()
    return ValueMasker(environment_secrets(await secrets.environment(tenant)))
