"""``leoflow-server``: the control plane as a server — the API, the scheduler, the agent gRPC
service and the executors in one process, on SQLite by default or PostgreSQL.

The first admin is ``admin``, with the password from ``LEOFLOW_BOOTSTRAP_PASSWORD``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from leoflow import __version__

log = logging.getLogger("leoflow.server")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leoflow-server",
        description="Run the Leoflow control plane: /api/v2, the scheduler, the agent "
                    "service and the executors.",
        epilog="examples:\n  LEOFLOW_BOOTSTRAP_PASSWORD=... leoflow-server\n"
               "  leoflow-server --port 8080 --database-url "
               "postgresql+asyncpg://user:pass@db/leoflow",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument("--database-url", help="metadata database (default: the Lite SQLite "
                        "file in LEOFLOW_HOME)")
    parser.add_argument("--grpc-port", type=int, default=0,
                        help="port agents connect to on 127.0.0.1 (default: any free port)")
    parser.add_argument("--parallelism", type=int, default=32,
                        help="task instances queued or running at once (default 32)")
    parser.add_argument("--log-json", action="store_true",
                        help="write the server's logs as JSON lines")
    parser.add_argument("--version", action="version", version=f"leoflow-server {__version__}")
    return parser


def build_app(settings: Any, *, grpc_port: int = 0, parallelism: int = 32) -> Any:
    """The FastAPI app whose lifespan starts and stops the whole control plane."""
    from leoflow.app.controlplane import start_control_plane
    from leoflow.engine.api import ApiContext, create_api
    from leoflow.engine.auth.service import AuthService

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        plane = await start_control_plane(settings, grpc_port=grpc_port,
                                          parallelism=parallelism)
        try:
            auth = await AuthService.open(plane.store, settings)
            app.state.context = ApiContext(
                store=plane.store, operations=plane.operations, auth=auth, xcom=plane.xcom,
                logs=plane.logs, version=__version__, started_at=datetime.now(UTC),
                extras={"plane": plane})
            app.state.plane = plane
            yield
        finally:
            await plane.stop()

    return create_api(version=__version__, lifespan=lifespan)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import uvicorn

    from leoflow.app.settings import Settings
    from leoflow.errors import LeoflowError

    logging.basicConfig(level=logging.INFO,
                        format='{"time": "%(asctime)s", "level": "%(levelname)s", '
                               '"logger": "%(name)s", "message": "%(message)s"}'
                        if args.log_json else "%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.load(overrides={"database_url": args.database_url})
    except LeoflowError as exc:
        print(f"leoflow-server: {exc}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: the API is reachable from other machines", args.host)
    app = build_app(settings, grpc_port=args.grpc_port, parallelism=args.parallelism)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info",
                access_log=False, lifespan="on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
