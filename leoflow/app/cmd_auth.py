"""``leoflow auth create-token``: an API token for CI, made on the server's host.

It acts on the metadata database directly, as an administrator would on the control
plane's host (no server call, no login): the token acts as the given user, with its role and
tenant, and is printed once — only its SHA-256 is stored. Heavy imports happen inside the
command so that ``leoflow --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from leoflow.errors import LeoflowError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``auth`` and its subcommands to the CLI's subparsers; each sets ``func``."""
    parser = subparsers.add_parser(
        "auth", help="users and API tokens of the control plane",
        description="Users and API tokens of the control plane (see docs/auth.md).")
    commands = parser.add_subparsers(dest="auth_command", metavar="COMMAND", required=True)
    create = commands.add_parser(
        "create-token", help="create an API token for CI (printed once)",
        description="Create an API token acting as USERNAME (its role and tenant), for CI. "
                    "Works on the metadata database directly; run it where the server "
                    "runs. The token is printed once: store it in your CI's secrets.",
        epilog="example:\n  leoflow auth create-token --username ci --expires-in 90\n"
               "  curl -H \"Authorization: Bearer $TOKEN\" http://HOST:8080/api/v2/dags",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    create.add_argument("--username", required=True, help="the user the token acts as")
    create.add_argument("--expires-in", type=float, metavar="DAYS",
                        help="days until the token expires (default: never)")
    create.add_argument("--description", help="what the token is for (shown in listings)")
    create.add_argument("--database-url", metavar="URL",
                        help="metadata database (default: LEOFLOW_DATABASE_URL, config.toml, "
                             "or the Lite file)")
    create.add_argument("--json", action="store_true",
                        help="print {token, token_id, username, expires_at} as JSON")
    create.set_defaults(func=run_create_token)
    return parser


def run_create_token(args: argparse.Namespace) -> int:
    from leoflow.app.settings import Settings

    try:
        url = Settings.load(overrides={"database_url": args.database_url}).database_url
        token, row = asyncio.run(_create_token(url, args.username, args.expires_in,
                                               args.description))
    except LeoflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    expires = row.expires_at.isoformat() if row.expires_at else None
    if args.json:
        print(json.dumps({"token": token, "token_id": row.id, "username": row.username,
                          "expires_at": expires}))
    else:
        print(token)
        print(f"token {row.id} acts as {row.username!r}; "
              f"{'expires ' + expires if expires else 'never expires'}. It is shown only "
              "now.", file=sys.stderr)
    return 0


async def _create_token(url: str, username: str, expires_in: float | None,
                        description: str | None) -> tuple[str, Any]:
    from leoflow.engine.auth.api_tokens import create_api_token
    from leoflow.engine.store import Store, audit

    store = await Store.open(url)
    try:
        async with store.begin() as conn:
            token, row = await create_api_token(conn, username, expires_in_days=expires_in,
                                                description=description)
            await audit.record_event(conn, "post_api_token", username=None,
                                     extra={"user": username, "token_id": row.id,
                                            "via": "cli"})
        return token, row
    finally:
        await store.close()
