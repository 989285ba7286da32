"""Settings: flags > environment > config.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from leoflow.app.settings import Settings, SettingsError


def _write(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_defaults_to_the_lite_file_in_home(tmp_path: Path) -> None:
    settings = Settings.load(env={"LEOFLOW_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.as_posix()}/leoflow.db"
    assert settings.config_file == tmp_path / "config.toml"


def test_default_home_is_dot_leoflow() -> None:
    settings = Settings.load(env={})
    assert settings.home == Path.home() / ".leoflow"


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    _write(tmp_path, 'database_url = "postgresql+asyncpg://file/db"\n')
    env = {"LEOFLOW_HOME": str(tmp_path)}
    assert Settings.load(env=env).database_url == "postgresql+asyncpg://file/db"
    env["LEOFLOW_DATABASE_URL"] = "postgresql+asyncpg://env/db"
    assert Settings.load(env=env).database_url == "postgresql+asyncpg://env/db"
    flags = {"database_url": "postgresql+asyncpg://flag/db"}
    assert Settings.load(env=env, overrides=flags).database_url == "postgresql+asyncpg://flag/db"
    # An unset flag (None) does not hide the lower layers.
    assert Settings.load(env=env, overrides={"database_url": None}).database_url.startswith(
        "postgresql+asyncpg://env"
    )


def test_home_override_moves_the_file_and_the_default_database(tmp_path: Path) -> None:
    other = tmp_path / "other"
    _write(other, 'database_url = "sqlite+aiosqlite:///x.db"\n')
    settings = Settings.load(env={"LEOFLOW_HOME": str(tmp_path)}, overrides={"home": other})
    assert settings.home == other and settings.database_url == "sqlite+aiosqlite:///x.db"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = Settings.load(env={"LEOFLOW_HOME": str(tmp_path)})
    with pytest.raises(AttributeError):
        settings.database_url = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("database_url = ", "not valid TOML"),
        ('databse_url = "x"', "unknown key(s) databse_url"),
        ("database_url = 3", "database_url must be a non-empty string"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        Settings.load(env={"LEOFLOW_HOME": str(tmp_path)})
    assert message in str(caught.value)
    assert str(tmp_path / "config.toml") in str(caught.value)


def test_bad_env_and_unknown_override(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LEOFLOW_DATABASE_URL"):
        Settings.load(env={"LEOFLOW_HOME": str(tmp_path), "LEOFLOW_DATABASE_URL": " "})
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load(env={"LEOFLOW_HOME": str(tmp_path)}, overrides={"port": 1})
