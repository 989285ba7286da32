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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leoflow import __version__

if TYPE_CHECKING:
    from leoflow.app.controlplane import ControlPlane
    from leoflow.app.settings import Settings
    from leoflow.engine.api.metrics import Metrics
    from leoflow.engine.auth.passwords import Passwords

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
    parser.add_argument("--grpc-port", type=int, default=None,
                        help="port agents connect to (default: the one used last time, "
                             "kept in LEOFLOW_HOME/agent-address so that running agents "
                             "reach a restarted server; a free one on the first start; 0: "
                             "any free port; pin it when several replicas run, see "
                             "docs/ha.md)")
    parser.add_argument("--grpc-host", default="127.0.0.1",
                        help="address the agent service listens on (default 127.0.0.1; "
                             "0.0.0.0 in a cluster, where agents run in pods)")
    parser.add_argument("--no-scheduler", action="store_true",
                        help="serve the API and the agents but never run the scheduler "
                             "(PostgreSQL: a replica that does not stand for election)")
    parser.add_argument("--parallelism", type=int, default=32,
                        help="task instances queued or running at once (default 32)")
    parser.add_argument("--dags-folder", type=Path, metavar="PATH",
                        help="compile and register every DAG in PATH at start, and again "
                             "when a file changes: an Airflow DAGs folder (.py files, "
                             ".airflowignore, requirements.txt) or folders of leoflow.yaml "
                             "projects); new DAGs start paused, as in Airflow")
    parser.add_argument("--log-json", action="store_true",
                        help="write the server's logs as JSON lines")
    parser.add_argument("--version", action="version", version=f"leoflow-server {__version__}")
    return parser


def build_app(settings: Settings, *, grpc_port: int = 0, parallelism: int = 32,
              log_json: bool = False, grpc_host: str = "127.0.0.1",
              campaign: bool = True, code_roots: Sequence[Path] = (),
              dags_folder: Path | None = None, airflow_ui_prefix: str = "",
              passwords: Passwords | None = None, lazy_routes: bool = False) -> Any:
    """The FastAPI app whose lifespan starts and stops the whole control plane.

    Its metrics (``/metrics``) follow the scheduler and XCom pushes; ``log_json`` adds one
    JSON access-log line per API request. On PostgreSQL every replica serves the API and
    the agents, and the elected one schedules: ``/api/leoflow/ha``, the
    ``leoflow_scheduler_leader`` gauge and the health's scheduler heartbeat say which.
    ``dags_folder`` is compiled and registered at start and whenever a file in it changes
    (an Airflow DAGs folder or a folder of leoflow.yaml projects, as Lite's workspace).
    The Airflow UI (``leoflow ui install``) is served at ``airflow_ui_prefix`` (the top by
    default; Lite puts it at ``/airflow`` beside its IDE). ``passwords`` is the hasher the
    authentication uses (Lite passes one already hashing the new admin's password).
    ``lazy_routes`` imports each API route module at the first request that needs it
    (``leoflow.engine.api.lazy_routes``): Lite's first page and health check need none.
    """
    from leoflow.app.controlplane import start_control_plane
    from leoflow.engine.api import ApiContext, create_api
    from leoflow.engine.api.app import include_module
    from leoflow.engine.api.body_limit import DEFAULT_MAX_REQUEST_BYTES
    from leoflow.engine.api.context import PREPARE_ENVIRONMENT
    from leoflow.engine.api.metrics import Metrics, install_request_middleware
    from leoflow.engine.auth.service import AuthService

    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        roots = (*code_roots, *((dags_folder,) if dags_folder is not None else ()))
        plane = await start_control_plane(settings, grpc_host=grpc_host, grpc_port=grpc_port,
                                          parallelism=parallelism,
                                          listeners=[metrics.listener],
                                          on_xcom_push=metrics.xcom_pushed,
                                          campaign=campaign, code_roots=roots)
        metrics.start(plane.store, parallelism=parallelism)
        _leader_gauge(metrics, plane)

        async def prepare_environment(document: Any) -> None:
            # A pushed DAG is runnable at once: its environment is built before it is stored.
            await plane.environments.ensure(
                document.get("project") or document["dag_id"], document.get("python_version"),
                document.get("dependencies") or [])

        try:
            auth = await AuthService.open(plane.store, settings, passwords=passwords)
            app.state.context = ApiContext.of(
                plane.services, auth=auth, version=__version__, started_at=datetime.now(UTC),
                extras={PREPARE_ENVIRONMENT: prepare_environment})
            app.state.plane = plane
            app.state.services = plane.services
            reloader = None
            if dags_folder is not None:
                from leoflow.app.hot_reload import Reloader

                # new DAGs start paused, as in Airflow (dags_are_paused_at_creation)
                reloader = Reloader(dags_folder, plane.services, paused_on_create=True)
                app.state.reloader = reloader
                await reloader.start()
            try:
                yield
            finally:
                if reloader is not None:
                    await reloader.stop()
        finally:
            await metrics.stop()
            await plane.stop()

    app = create_api(version=__version__, lifespan=lifespan,
                     max_request_bytes=getattr(settings, "max_request_bytes",
                                               DEFAULT_MAX_REQUEST_BYTES),
                     lazy=lazy_routes)
    include_module(app, "ha", lazy=lazy_routes)
    install_request_middleware(app, metrics, access_log_enabled=log_json)
    from leoflow.app.cmd_ui import ui_roots
    from leoflow.engine.api import airflow_ui

    airflow_ui.install(app, ui_roots(settings.home), prefix=airflow_ui_prefix)
    return app


def _leader_gauge(metrics: Metrics, plane: ControlPlane) -> None:
    """``leoflow_scheduler_leader``: 1 on the replica that runs the scheduler."""
    from prometheus_client import Gauge

    gauge = Gauge("leoflow_scheduler_leader",
                  "1 when this replica runs the scheduler (elected, or the only process)",
                  registry=metrics.registry)
    gauge.set_function(lambda: 1.0 if plane.is_leader else 0.0)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import uvicorn

    from leoflow.app.settings import Settings
    from leoflow.errors import LeoflowError

    if args.log_json:
        from leoflow.engine.api.metrics import JsonLogFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(JsonLogFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations: only problems
    try:
        settings = Settings.load(overrides={"database_url": args.database_url})
        from leoflow.engine.auth.config import check_production

        check_production(settings)  # a weak secret in production: refuse before starting
        from leoflow.app.preflight import check_state_folders

        check_state_folders(settings.home, settings.database_url)  # read-only, full: one line
        from leoflow.app.lite_lock import refuse_lite_store

        refuse_lite_store(settings.database_url)  # Lite's file: never a second scheduler
        if args.no_scheduler and not settings.database_url.startswith("postgresql"):
            raise LeoflowError("--no-scheduler needs PostgreSQL (LEOFLOW_DATABASE_URL or "
                               "--database-url): on SQLite one process does everything")
    except LeoflowError as exc:
        print(f"leoflow-server: {exc}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: the API is reachable from other machines", args.host)
    dags_folder = args.dags_folder.expanduser().resolve() if args.dags_folder else None
    if dags_folder is not None and not dags_folder.is_dir():
        print(f"leoflow-server: --dags-folder {args.dags_folder}: no such folder",
              file=sys.stderr)
        return 2
    grpc_port = args.grpc_port
    if grpc_port is None:
        from leoflow.app.agent_port import stable_agent_port

        grpc_port = stable_agent_port(settings.home, args.grpc_host)
    app = build_app(settings, grpc_port=grpc_port, parallelism=args.parallelism,
                    log_json=args.log_json, grpc_host=args.grpc_host,
                    campaign=not args.no_scheduler, dags_folder=dags_folder)
    # With --log-json uvicorn keeps its hands off logging: its records reach the JSON handler.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info",
                access_log=False, lifespan="on",
                log_config=None if args.log_json else uvicorn.config.LOGGING_CONFIG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
