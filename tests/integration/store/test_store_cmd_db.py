"""``leoflow db migrate`` / ``leoflow db check`` called as the CLI calls them."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from leoflow.app import cmd_db
from leoflow.engine.store import schema
from leoflow.engine.store.database import create_engine


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="leoflow")
    cmd_db.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def _run(*argv: str) -> int:
    args = _parse(*argv)
    return args.func(args)


async def _with_engine(url: str, action) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    try:
        await action(engine)
    finally:
        await engine.dispose()


def test_parser_wires_subcommands() -> None:
    args = _parse("db", "migrate", "--database-url", "sqlite:///x.db")
    assert args.func is cmd_db.run_migrate and args.database_url == "sqlite:///x.db"
    assert _parse("db", "check").func is cmd_db.run_check
    with pytest.raises(SystemExit):
        _parse("db")


def test_migrate_then_check(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    head = schema.head_revision()
    assert _run("db", "check", "--database-url", database_url) == 1
    assert "leoflow db migrate" in capsys.readouterr().err

    assert _run("db", "migrate", "--database-url", database_url) == 0
    assert f"upgraded from revision <none> to {head}" in capsys.readouterr().out
    assert _run("db", "migrate", "--database-url", database_url) == 0
    assert f"already at revision {head}" in capsys.readouterr().out
    assert _run("db", "check", "--database-url", database_url) == 0
    out = capsys.readouterr().out
    assert "up to date" in out and out.count("\n") == 1


def test_check_reports_older_and_newer(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    oldest = schema.known_revisions()[0]
    asyncio.run(_with_engine(database_url, lambda e: schema.migrate(e, oldest)))
    assert _run("db", "check", "--database-url", database_url) == 1
    err = capsys.readouterr().err
    assert f"revision {oldest}" in err and "leoflow db migrate" in err

    asyncio.run(_with_engine(database_url, lambda e: schema.stamp(e, "ffffffffffff")))
    assert _run("db", "check", "--database-url", database_url) == 1
    assert "newer Leoflow" in capsys.readouterr().err
    assert _run("db", "migrate", "--database-url", database_url) == 1
    assert "newer Leoflow" in capsys.readouterr().err


def test_check_does_not_create_the_lite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "home" / "leoflow.db"
    assert _run("db", "check", "--database-url", f"sqlite:///{db}") == 1
    assert not db.exists()
    assert "no Leoflow schema" in capsys.readouterr().err


def test_url_from_the_environment(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LEOFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("LEOFLOW_DATABASE_URL", sqlite_url)
    assert _run("db", "migrate") == 0
    assert sqlite_url.split("///")[1] in capsys.readouterr().out


def test_unreachable_or_invalid_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://leo:s3cret@/leoflow?host={tmp_path}/nowhere&port=5432"
    assert _run("db", "check", "--database-url", url) == 1
    err = capsys.readouterr().err
    assert "cannot open the metadata database" in err
    assert "s3cret" not in err and "***" in err
    assert _run("db", "migrate", "--database-url", "mysql://x@localhost/db") == 1
    assert "only SQLite" in capsys.readouterr().err
    assert _run("db", "check", "--database-url", "not a url") == 1
    assert "not a database URL" in capsys.readouterr().err
