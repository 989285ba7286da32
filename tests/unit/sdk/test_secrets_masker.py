"""The secrets masker's rules (Airflow's): what is a secret among a task's variables and
connections, what ``mask_secret`` registers, and how a line is redacted."""

from __future__ import annotations

import json

from leoflow.engine.masking import keys as engine_masking
from leoflow.engine.masking.values import ValueMasker
from leoflow.engine.masking.values import environment_secrets as engine_secrets
from leoflow.sdk import secrets_masker
from leoflow.sdk.secrets_masker import SecretsMasker, environment_secrets

ENV = {
    "AIRFLOW_VAR_API_TOKEN": "tok-123456",
    "AIRFLOW_VAR_REGION": "eu-west-1",
    "AIRFLOW_VAR_SETTINGS": json.dumps({"user": "bob", "db": {"password": "nested-pw-1"}}),
    "AIRFLOW_VAR_SHORT_SECRET": "abc",  # under MIN_LENGTH: not masked (Airflow's rule)
    "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "postgres", "login": "etl",
                                          "password": "p@ss/word!",
                                          "extra": {"private_key": "pk-abcdef",
                                                    "region": "us"}}),
    "AIRFLOW_CONN_LEGACY": "postgres://etl:uri%3Apass@db:5432/x?api_key=key-987654",
    "PATH": "/usr/bin",
}


def test_the_secrets_of_a_tasks_environment() -> None:
    found = environment_secrets(ENV)
    assert found == {"tok-123456", "nested-pw-1", "abc", "p@ss/word!", "pk-abcdef",
                     "uri:pass", "key-987654"}
    assert engine_secrets(ENV) >= found - {"key-987654"}  # the engine: stored connections


def test_a_line_is_redacted_with_every_form_of_a_secret() -> None:
    masker = SecretsMasker()
    masker.add_environment(ENV)
    line = ("token tok-123456 pw p@ss/word! uri postgres://etl:p%40ss%2Fword%21@db "
            "region eu-west-1 short abc airflow")
    assert masker.redact(line) == ("token *** pw *** uri postgres://etl:***@db "
                                   "region eu-west-1 short abc airflow")


def test_add_mask_follows_airflows_rules() -> None:
    masker = SecretsMasker()
    assert masker.add_mask("plain-value-1") == ["plain-value-1"]
    assert masker.add_mask("named-but-harmless", "region") == []
    assert masker.add_mask("named-secret-1", "db_password") == ["named-secret-1"]
    assert masker.add_mask({"user": "bob-the-user", "token": "dict-token-1"}) == \
        ["dict-token-1"]
    assert masker.add_mask("airflow") == [] and masker.add_mask("abcd") == []
    # a secret containing another is masked whole
    masker.add_mask("dict-token-1-and-more")
    assert masker.redact("x dict-token-1-and-more y") == "x *** y"
    assert masker.redact_value({"password": "anything", "note": "plain-value-1 here"}) == \
        {"password": "***", "note": "*** here"}


def test_mask_secret_reports_new_secrets_once() -> None:
    reported: list[list[str]] = []
    secrets_masker.use_reporter(reported.append)
    try:
        secrets_masker.mask_secret("reported-secret-1")
        secrets_masker.mask_secret("reported-secret-1")
        secrets_masker.mask_secret("x")  # too short: nothing to report
    finally:
        secrets_masker.use_reporter(None)
    assert reported == [["reported-secret-1"]]
    assert secrets_masker.redact("a reported-secret-1 b") == "a *** b"


def test_the_engine_and_the_sdk_share_airflows_list_of_sensitive_names() -> None:
    assert secrets_masker.SENSITIVE_NAMES == engine_masking.SENSITIVE_NAMES


def test_the_engine_masks_shown_values_and_keeps_short_ones() -> None:
    masker = ValueMasker(engine_secrets(ENV))
    shown = masker.redact_value({"api_token": "tok-123456", "note": "pw=p@ss/word!",
                                 "list": ["tok-123456"], "n": 3})
    assert shown == {"api_token": "***", "note": "pw=***", "list": ["***"], "n": 3}
