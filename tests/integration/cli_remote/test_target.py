"""Where the remote commands send requests: flags, environment, profiles (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leoflow.remote.client import RemoteError, format_validation
from leoflow.remote.target import DEFAULT_SERVER, resolve_target

PROFILES = """
[profiles.default]
server = "http://default.example:8080"
token = "default-token"

[profiles.prod]
server = "https://prod.example/"
token = "prod-token"

[profiles.half]
server = "staging.example:8080"
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text(PROFILES, "utf-8")
    return tmp_path


def test_the_default_is_a_local_server_without_a_token(tmp_path):
    target = resolve_target(env={"LEOFLOW_HOME": str(tmp_path)})
    assert (target.server, target.token, target.profile) == (DEFAULT_SERVER, None, None)


def test_flags_win_over_everything(home):
    env = {"LEOFLOW_HOME": str(home), "LEOFLOW_SERVER": "http://env:1", "LEOFLOW_TOKEN": "e",
           "LEOFLOW_PROFILE": "prod"}
    target = resolve_target("http://flag:2", "flag-token", "prod", env=env)
    assert (target.server, target.token) == ("http://flag:2", "flag-token")


def test_an_explicit_profile_wins_over_the_environment(home):
    env = {"LEOFLOW_HOME": str(home), "LEOFLOW_SERVER": "http://env:1", "LEOFLOW_TOKEN": "e"}
    target = resolve_target(profile="prod", env=env)
    assert (target.server, target.token, target.profile) == (
        "https://prod.example", "prod-token", "prod")


def test_the_environment_wins_over_leoflow_profile_and_the_default_profile(home):
    env = {"LEOFLOW_HOME": str(home), "LEOFLOW_SERVER": "http://env:1",
           "LEOFLOW_PROFILE": "prod"}
    target = resolve_target(env=env)
    assert (target.server, target.token) == ("http://env:1", "prod-token")
    target = resolve_target(env={"LEOFLOW_HOME": str(home), "LEOFLOW_TOKEN": "e"})
    assert (target.server, target.token) == ("http://default.example:8080", "e")


def test_a_profile_may_leave_out_the_token_and_the_scheme(home):
    target = resolve_target(profile="half", env={"LEOFLOW_HOME": str(home)})
    assert (target.server, target.token) == ("http://staging.example:8080", None)


def test_an_unknown_profile_lists_the_known_ones(home):
    with pytest.raises(RemoteError, match=r"no profile 'qa'.*default, half, prod"):
        resolve_target(profile="qa", env={"LEOFLOW_HOME": str(home)})
    with pytest.raises(RemoteError, match="no profile 'qa'"):
        resolve_target(env={"LEOFLOW_HOME": str(home), "LEOFLOW_PROFILE": "qa"})


@pytest.mark.parametrize(("text", "message"), [
    ("[profiles.x]\nserver = 'http://x'\npassword = 'p'\n", "unknown key.*password"),
    ("[profiles.x]\nserver = ''\n", r"profiles.x.server must be a non-empty string"),
    ("profiles = 3\n", "profiles must be tables"),
    ("[profiles\n", "not valid TOML"),
])
def test_bad_profiles_name_the_file_and_key(tmp_path, text, message):
    (tmp_path / "config.toml").write_text(text, "utf-8")
    with pytest.raises(RemoteError, match=message) as caught:
        resolve_target(profile="x", env={"LEOFLOW_HOME": str(tmp_path)})
    assert str(tmp_path / "config.toml") in str(caught.value)


def test_validation_errors_read_as_field_paths():
    detail = [{"loc": ["body", "tasks", 0, "upstream", 1], "msg": "unknown task 'ghost'"},
              {"loc": ["query", "limit"], "msg": "too big"}]
    assert format_validation(detail) == (
        "tasks[0].upstream[1]: unknown task 'ghost'; limit: too big")
    assert format_validation("plain") == "plain"


def test_the_server_settings_accept_a_file_with_profiles(home):
    from leoflow.app.settings import Settings

    settings = Settings.load(env={"LEOFLOW_HOME": str(home)})
    assert settings.home == home
