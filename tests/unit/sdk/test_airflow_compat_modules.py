"""The Airflow modules DAG files import besides ``airflow.sdk``: compat, exceptions,
timezone, and the one-line error for Airflow's server internals (through the compile child,
as ``leoflow compile`` runs a DAG file)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.unit.sdk.conftest import compile_source


def test_compat_sdk_timezone_and_exceptions_modules(tmp_path):
    result = compile_source(tmp_path, """
        import pendulum
        from airflow.providers.common.compat.sdk import TriggerRule, timezone, Context
        from airflow.sdk.exceptions import AirflowSkipException
        from airflow.sdk import DAG, task

        with DAG("compat", start_date=timezone.datetime(2022, 1, 1), schedule=None,
                 default_args={"start": pendulum.datetime(2021, 1, 1, tz="UTC")}):
            @task(trigger_rule=TriggerRule.ALL_DONE)
            def t(context: Context = None):
                raise AirflowSkipException("no")
            t()
    """)
    assert result["ok"], result
    (dag,) = result["dags"]
    assert dag["dag_id"] == "compat"
    assert dag["tasks"][0]["trigger_rule"] == "all_done"


def test_timezone_helpers_behave_like_airflows():
    from leoflow.sdk import timezone

    assert timezone.datetime(2022, 1, 1).tzinfo is dt.UTC
    assert timezone.utcnow().tzinfo is dt.UTC
    assert timezone.parse("2022-01-01T00:00:00Z") == dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    naive = dt.datetime(2022, 1, 1, 12)
    assert timezone.convert_to_utc(naive) == dt.datetime(2022, 1, 1, 12, tzinfo=dt.UTC)
    assert timezone.make_naive(timezone.make_aware(naive, "Europe/Paris")) == dt.datetime(
        2022, 1, 1, 11)
    with pytest.raises(ValueError):
        timezone.make_aware(timezone.utcnow())


@pytest.mark.parametrize("module", ["airflow.configuration", "airflow.models.taskinstance",
                                    "airflow.example_dags.plugins.workday",
                                    "airflow.plugins_manager"])
def test_airflow_internals_fail_with_one_line_naming_the_module(tmp_path, module):
    result = compile_source(tmp_path, f"""
        from airflow.sdk import DAG

        import {module}
    """)
    assert not result["ok"]
    error = result["error"]
    assert error["kind"] == "airflow_internal"
    assert error["line"] == 4 and error["file"].endswith("my_dags.py")
    assert "\n" not in error["message"]
    top = ".".join(module.split(".")[:2])
    assert error["message"].startswith(top) or error["message"].startswith(module)
    assert "belongs to Airflow's server" in error["message"]


def test_an_authoring_module_not_provided_yet_says_so(tmp_path):
    result = compile_source(tmp_path, """
        from airflow.providers.standard.operators.no_such_operator import Nope
    """)
    assert not result["ok"]
    assert result["error"]["kind"] == "airflow_unsupported"
    assert "is not provided by Leoflow yet" in result["error"]["message"]


def test_user_code_can_still_catch_the_missing_airflow_module(tmp_path):
    result = compile_source(tmp_path, """
        try:
            from airflow.configuration import conf
        except ImportError:
            conf = None
        from airflow.sdk import DAG
        with DAG("tolerant", schedule=None):
            pass
    """)
    assert result["ok"], result


@pytest.mark.parametrize(("statement", "named", "kind"), [
    ("from airflow.models import TaskInstance", "airflow.models.TaskInstance",
     "airflow_internal"),
    ("from airflow.utils.state import State", "airflow.utils.state", "airflow_internal"),
    ("from airflow.sdk import NoSuchThing", "airflow.sdk.NoSuchThing", "airflow_unsupported"),
])
def test_a_name_leoflow_does_not_provide_gets_the_same_one_line(tmp_path, statement, named,
                                                                 kind):
    result = compile_source(tmp_path, f"""
        {statement}
    """)
    assert not result["ok"]
    error = result["error"]
    assert error["kind"] == kind and error["line"] == 2
    assert error["message"].startswith(named) and "\n" not in error["message"]
