"""Secrets hidden from task logs, as Airflow's secrets masker hides them.

What is masked (Airflow's rules, docs/security.md "Secrets in logs"):

* the value of every variable whose key names a secret (``password``, ``token``,
  ``api_key``... ``SENSITIVE_NAMES``), and the entries under such keys in a JSON value;
* every connection's password, and the entries of its extra under sensitive keys;
* anything user code registers with ``mask_secret(value)`` (``airflow.sdk.log``,
  ``airflow.sdk.execution_time.secrets_masker`` and ``airflow.utils.log.secrets_masker``
  give it under Airflow's names).

A value is replaced by ``***`` wherever it appears in a line, as is its URL-encoded form (a
password inside a connection URI). As in Airflow, values shorter than ``MIN_LENGTH``
characters and the word ``airflow`` are not masked: masking every ``a`` would make the
logs unreadable and protect nothing.

The agent masks the lines of a try (and its error) before they leave it, with the
variables and connections it handed the task; the task runner tells the agent at once what
``mask_secret`` registered (a channel request, answered before the call returns), so a
value printed just after it is registered is masked. Standard library only: this module
runs in the DAG's own interpreter too.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_LENGTH = 5  # Airflow 3's [core] min_length_masked_secret
NEVER_MASKED = frozenset({"airflow"})  # Airflow's SECRETS_TO_SKIP_MASKING
VAR_PREFIX = "AIRFLOW_VAR_"
CONN_PREFIX = "AIRFLOW_CONN_"
OP_MASK_SECRET = "mask_secret"  # the channel request (leoflow.sdk.channel's protocol)

# Airflow's DEFAULT_SENSITIVE_FIELDS (the engine's API masking uses the same list:
# leoflow.engine.masking.keys.SENSITIVE_NAMES)
SENSITIVE_NAMES = frozenset({
    "access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
    "private_key", "secret", "token", "keyfile_dict", "service_account",
})
DEFAULT_SENSITIVE_FIELDS = SENSITIVE_NAMES  # Airflow's name


def should_hide_value_for_key(name: Any) -> bool:
    """Whether a variable or field named ``name`` holds a secret (Airflow's name)."""
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_NAMES)


def _strings(value: Any, name: str | None) -> Iterable[str]:
    """The strings to mask in ``value`` (Airflow's ``add_mask``): a string when it has no
    name or a sensitive one; a dict's entries by their keys; a list's items by its name."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, str(key))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _strings(item, name)
    elif isinstance(value, str):
        if name is None or should_hide_value_for_key(name):
            yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) \
            and name is not None and should_hide_value_for_key(name):
        yield str(value)


def adaptations(secret: str) -> set[str]:
    """``secret`` and the forms it takes inside a URI (Airflow also masks those)."""
    forms = {secret, quote(secret, safe=""), quote(secret)}
    return {f for f in forms if len(f) >= MIN_LENGTH and f.lower() not in NEVER_MASKED}


def variable_secrets(key: str, value: str) -> set[str]:
    """What to mask of variable ``key``: all of it when the key is sensitive, else the
    sensitive entries of a JSON value."""
    if should_hide_value_for_key(key):
        return {value}
    try:
        document = json.loads(value)
    except ValueError:
        return set()
    return set(_sensitive_only(document))


def _sensitive_only(document: Any) -> Iterable[str]:
    if isinstance(document, dict):
        for key, item in document.items():
            if should_hide_value_for_key(key):
                yield from _strings(item, None)
            else:
                yield from _sensitive_only(item)
    elif isinstance(document, list):
        for item in document:
            yield from _sensitive_only(item)


def connection_secrets(value: str) -> set[str]:
    """The password and the sensitive extra entries of an ``AIRFLOW_CONN_*`` value (Airflow's
    JSON form or its URI form)."""
    found: set[str] = set()
    try:
        document = json.loads(value)
    except ValueError:
        document = None
    if isinstance(document, dict):
        if document.get("password"):
            found.add(str(document["password"]))
        extra = document.get("extra")
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except ValueError:
                extra = None
        found.update(_sensitive_only(extra))
        return found
    if "://" in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            return found
        if password:
            found.add(unquote(password))
        for pair in parts.query.split("&"):
            key, _, item = pair.partition("=")
            if item and should_hide_value_for_key(unquote(key)):
                found.add(unquote(item))
    return found


def environment_secrets(env: Mapping[str, str]) -> set[str]:
    """Every secret among the variables and connections of a task's environment."""
    found: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        if name.startswith(VAR_PREFIX):
            found |= variable_secrets(name[len(VAR_PREFIX):], value)
        elif name.startswith(CONN_PREFIX):
            found |= connection_secrets(value)
    return found


class SecretsMasker:
    """The secrets of one try and a ``redact`` that hides them; thread-safe."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._secrets)

    def add_mask(self, secret: Any, name: str | None = None) -> list[str]:
        """Register ``secret`` (Airflow's ``add_mask`` rules, see ``_strings``); returns the
        strings that are new."""
        return self.add_strings(_strings(secret, name))

    def add_strings(self, secrets: Iterable[str]) -> list[str]:
        new: list[str] = []
        with self._lock:
            for secret in secrets:
                for form in adaptations(str(secret)):
                    if form not in self._secrets:
                        self._secrets.add(form)
                        new.append(form)
            if new:  # longest first: a secret containing another is masked whole
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
        return new

    def add_environment(self, env: Mapping[str, str]) -> None:
        self.add_strings(environment_secrets(env))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact_value(self, value: Any) -> Any:
        """A JSON value with every secret hidden in its strings and every entry under a
        sensitive key replaced (how Airflow shows rendered fields)."""
        if isinstance(value, dict):
            return {k: (MASK if should_hide_value_for_key(k) and v not in (None, "")
                        else self.redact_value(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_value(v) for v in value]
        if isinstance(value, str):
            return self.redact(value)
        return value


# -- the user process's side ------------------------------------------------------------------

_masker = SecretsMasker()
_reporter: Callable[[list[str]], None] | None = None


def use_reporter(reporter: Callable[[list[str]], None] | None) -> None:
    """Where ``mask_secret`` sends new secrets (the task runner: a channel request to the
    agent, which masks the try's log lines)."""
    global _reporter
    _reporter = reporter


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Hide ``secret`` from this task's log from now on (Airflow's ``mask_secret``).

    A string is masked (when ``name`` is given, only if it names a secret); a dict's values
    under sensitive keys are. Returns once the agent knows it: a line printed after the call
    is masked."""
    new = _masker.add_mask(secret, name)
    if new and _reporter is not None:
        _reporter(new)


def redact(value: Any, name: str | None = None) -> Any:
    """``value`` with what this process registered hidden (Airflow's ``redact``)."""
    if name is not None and should_hide_value_for_key(name) and value not in (None, ""):
        return MASK
    return _masker.redact_value(value)
