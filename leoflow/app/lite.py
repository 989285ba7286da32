"""``leoflow lite``: the API, the scheduler, the agents and the IDE on one port, in one process.

The first start creates the workspace (``~/leoflow``, with the examples in ``examples/``) and
the Leoflow home (``~/.leoflow``: the SQLite store, logs, environments), makes the ``admin``
user with a generated password printed once (stored as an argon2 hash), and registers every
project of the workspace. Later starts reuse all of it. Saving a project's files registers a
new version (``leoflow.engine.reload.reloader.Reloader``).

Stopping (Ctrl-C, SIGTERM) is orderly: the watcher stops, every task instance still queued or
running is failed *without retry* with the error "Lite was stopped ..." (its agent is then
stopped; the run goes on to its end state under the usual trigger rules), and the control
plane closes the store. After a crash (``kill -9``) the next start reconciles what was in
flight: agents still alive reconnect (the gRPC port is kept stable across starts) and
report, tries whose agent is gone are failed (or retried when they have retries left).

This module is the composition root of Lite; ``lite_state``, ``lite_lock``, ``lite_backup``
and ``lite_users`` hold the files it keeps, ``lite_database`` its store (SQLite or
PostgreSQL), ``lite_stop`` the orderly stop, ``workspace`` the examples,
``leoflow.engine.reload`` the reloader.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leoflow.app.lite_database import lite_database
from leoflow.app.lite_stop import STOP_REASON, cancel_running_tasks
from leoflow.errors import LeoflowError

log = logging.getLogger("leoflow.lite")

DEFAULT_PORT = 8088
LOOPBACK = ("127.0.0.1", "localhost", "::1")


# -- the command line ------------------------------------------------------------------------
def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "lite", help="start Leoflow Lite: the local web IDE, API and scheduler on one port",
        description="Start Leoflow Lite: edit DAGs in the browser, see their graph update on "
                    "save, run them and read their logs. The first start creates the "
                    "workspace (with the examples) and the admin user, and prints the "
                    "password once.",
        epilog="examples:\n  leoflow lite                          http://127.0.0.1:8088\n"
               "  leoflow lite --workspace ~/dags --port 9000 --no-browser\n"
               "  leoflow lite --postgres embedded      a managed local PostgreSQL\n"
               "  leoflow lite --executor k8s           tasks in pods (current kubeconfig "
               "context)\n"
               "  leoflow lite reset-password           print a new admin password\n"
               "  leoflow lite backup lite.tar.gz       copy the whole Lite state\n\n"
               "docs: docs/lite.md",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workspace", help="folder of your DAG projects (default: the last one "
                   "used, else ~/leoflow)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"HTTP port of the IDE and the API (default {DEFAULT_PORT}; 0: any "
                        "free port)")
    p.add_argument("--postgres", metavar="embedded|URL",
                   help="keep the metadata in PostgreSQL: 'embedded' runs a managed local "
                        "server under LEOFLOW_HOME, or give a postgresql:// URL (default: "
                        "SQLite in LEOFLOW_HOME)")
    p.add_argument("--executor", choices=("subprocess", "kubernetes", "k8s"),
                   help="where tasks run: 'subprocess' (local agents, the default) or "
                        "'kubernetes'/'k8s' (one pod per task through the current kubeconfig "
                        "context, or LEOFLOW_K8S_CONTEXT; docs/kubernetes.md)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.set_defaults(func=run_lite)
    actions = p.add_subparsers(dest="lite_action", metavar="<action>")
    reset = actions.add_parser(
        "reset-password", help="give a user a new generated password and print it",
        description="Give a user a new generated password (stored as an argon2 hash) and "
                    "print it. Works while Lite runs.")
    reset.add_argument("--username", default="admin", help="whose password (default admin)")
    reset.set_defaults(func=run_reset_password)
    for name, text in (("backup", "copy the whole Lite state (store, logs, secrets, "
                                  "workspace) into FILE (.tar.gz); safe while Lite runs"),
                       ("restore", "replace the Lite state by the backup in FILE; refused "
                                   "while Lite runs; the previous state is set aside")):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:]
                                    + ".")
        action.add_argument("file", help="the backup file (.tar.gz)")
        action.add_argument("--workspace", help="the workspace (default: the one Lite used)")
        action.set_defaults(func=run_backup if name == "backup" else run_restore)


def run_lite(args: argparse.Namespace) -> int:
    from leoflow.app.lite_extra import lite_extra_problem

    problem = lite_extra_problem()  # the IDE is an extra; say how to get it, in one line
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    options = LiteOptions(workspace=args.workspace, host=args.host, port=args.port,
                          postgres=args.postgres, open_browser=not args.no_browser,
                          executor=getattr(args, "executor", None))
    try:
        return asyncio.run(serve_lite(options))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        print("stopped (interrupted while stopping)", file=sys.stderr)
        return 130


def run_reset_password(args: argparse.Namespace) -> int:
    from leoflow.app.lite_lock import running_server
    from leoflow.app.lite_users import reset_password

    home = _home()
    with lite_database(home, None, for_server=False) as url:
        password = asyncio.run(reset_password(url, args.username))
    print(f"new password for {args.username}: {password}")
    if running_server(home):
        print("Lite is running: the new password works at once; sessions already open stay "
              "open until they expire")
    return 0


def run_backup(args: argparse.Namespace) -> int:
    from leoflow.app.lite_backup import backup
    from leoflow.app.lite_state import resolve_workspace

    home = _home()
    workspace = resolve_workspace(home, args.workspace)
    with lite_database(home, None, for_server=False) as url:
        report = backup(home, workspace, url, Path(args.file))
    print(f"backed up {report.files} files ({report.size / 1e6:.1f} MB) to {report.path}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from leoflow.app.lite_backup import restore
    from leoflow.app.lite_state import resolve_workspace

    home = _home()
    workspace = resolve_workspace(home, args.workspace)
    with lite_database(home, None, for_server=False) as url:
        report = restore(home, workspace, url, Path(args.file))
    print(f"restored {report.files} files into {home} and {workspace}")
    for path in report.set_aside:
        print(f"  the previous state is kept in {path}")
    return 0


def _home() -> Path:
    from leoflow.app.settings import Settings

    return Settings.load().home


# -- the server ----------------------------------------------------------------------------------
@dataclass
class LiteOptions:
    workspace: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    postgres: str | None = None
    open_browser: bool = True
    executor: str | None = None  # None: the setting (LEOFLOW_EXECUTOR, config.toml)
    say: Callable[[str], None] = field(default=lambda text: print(text, flush=True))


async def serve_lite(options: LiteOptions) -> int:
    """Run Lite until Ctrl-C or SIGTERM; returns the exit status."""
    from leoflow.app.lite_lock import LiteLock
    from leoflow.app.lite_start import StartCollector
    from leoflow.app.lite_state import (
        LiteConfig,
        free_port,
        generate_password,
        port_is_free,
        resolve_workspace,
    )
    from leoflow.app.lite_users import admin_exists
    from leoflow.app.preflight import check_state_folders, check_workspace
    from leoflow.app.settings import Settings
    from leoflow.app.workspace import EXAMPLES_DIR, copy_examples, ensure_workspace
    from leoflow.engine.auth.passwords import Passwords
    from leoflow.engine.reload.plain_folder import is_plain_root
    from leoflow.engine.safe_files import make_private_dir

    started = time.monotonic()
    collector = StartCollector()
    collector.pause()  # until the app is built (lite_start.py)
    # its dummy hash (and the new admin's, below) are made in a thread while Lite builds
    passwords = Passwords()
    _configure_logging()
    say = options.say
    settings = Settings.load()
    home = settings.home
    check_state_folders(home, settings.database_url)  # one line when read-only or full
    make_private_dir(home)  # the store, secrets and logs: the owner's only (0700)
    remembered = LiteConfig.load(home)
    first_start = remembered.workspace is None
    workspace = resolve_workspace(home, options.workspace)
    check_workspace(workspace)
    lock = LiteLock(home)
    lock.acquire({"workspace": str(workspace), "url": None})
    sock: socket.socket | None = None
    try:
        sock = _listen(options.host, options.port)
        url = _url(options.host, sock.getsockname()[1])
        created = ensure_workspace(workspace)
        airflow_folder = not created and await asyncio.to_thread(is_plain_root, workspace)
        if airflow_folder and first_start and not (workspace / EXAMPLES_DIR).exists():
            say(f"{workspace} holds Airflow DAG files: registering them as they are; the "
                "examples are not copied into it (the IDE's Download examples button does)")
        elif (created or first_start) and not (workspace / EXAMPLES_DIR).exists():
            try:
                report = await asyncio.to_thread(copy_examples, workspace)
                say(f"copied {len(report.copied)} example files into "
                    f"{workspace / EXAMPLES_DIR}")
            except FileNotFoundError as exc:
                say(f"note: {exc}")
        postgres = options.postgres or remembered.postgres
        with lite_database(home, postgres, for_server=True) as database_url:
            from leoflow.app.lite_migrate import start_migration

            # a new SQLite store is migrated by a child, on the other core, meanwhile
            migration = start_migration(database_url)
            grpc_port = remembered.grpc_port
            if grpc_port is None or not port_is_free(grpc_port):
                grpc_port = free_port()
            LiteConfig(workspace=workspace,
                       postgres="embedded" if postgres == "embedded" else None,
                       grpc_port=grpc_port).save(home)
            settings = Settings.load(overrides={"home": str(home),
                                                "database_url": database_url,
                                                "executor": options.executor})
            if settings.executor == "kubernetes":
                await _check_cluster(settings, say)
            password = None
            chosen = getattr(settings, "bootstrap_password", None)
            if migration is not None or not await admin_exists(database_url):
                # the first start: LEOFLOW_BOOTSTRAP_PASSWORD, or one made here and shown
                password = chosen or generate_password()
                settings = Settings.load(overrides={"home": str(home),
                                                    "database_url": database_url,
                                                    "bootstrap_password": password,
                                                    "executor": options.executor})
                passwords.prepare(password)
                if chosen:
                    password = None  # the user knows it; never print it
            lite = _Lite(options, settings, workspace, url, password, grpc_port, lock,
                         started, passwords=passwords, collector=collector,
                         migration=migration)
            await lite.serve(sock)
    finally:
        collector.resume()
        if sock is not None:
            sock.close()
        lock.release()
    return 0


async def _check_cluster(settings: Any, say: Callable[[str], None]) -> None:
    """Before anything starts: the kubeconfig and its cluster must answer, else a one-line
    error (``KubernetesUnavailable``) says what is missing."""
    from leoflow.engine.executors.kubernetes import connect_cluster

    target = await connect_cluster(context=settings.k8s_context,
                                   namespace=settings.k8s_namespace,
                                   advertised=settings.grpc_advertise_address,
                                   grpc_host="127.0.0.1")
    await target.api_client.close()
    say(f"tasks run as pods: context {target.context or '(in cluster)'}, namespace "
        f"{target.namespace}; their agents dial {target.advertised or target.listen_host}")


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "watchfiles", "nicegui",
                 "httpx", "alembic", "aiosqlite", "sqlalchemy", "pgserver"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _listen(host: str, port: int) -> socket.socket:
    """Bind the HTTP socket first: a port in use is reported before anything starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LeoflowError(f"--host {host!r} is not an address of this machine: {exc}") \
            from None
    family, _type, _proto, _name, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise LeoflowError(f"cannot listen on {host}:{port}: {exc.strerror}; is Lite or "
                           "another server already using it? Choose another with --port")\
            from None
    sock.set_inheritable(False)
    return sock


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


class _Lite:
    """One running Lite: the app, the reloader, the IDE and the uvicorn server."""

    def __init__(self, options: LiteOptions, settings: Any, workspace: Path, url: str,
                 password: str | None, grpc_port: int, lock: Any, started: float, *,
                 passwords: Any = None, collector: Any = None,
                 migration: Any = None) -> None:
        from leoflow.engine.reload.reloader import Reloader

        self.options = options
        self.settings = settings
        self.workspace = workspace
        self.url = url
        self.password = password
        self.grpc_port = grpc_port
        self.lock = lock
        self.started = started
        self.passwords = passwords
        self.collector = collector
        self.migration = migration  # the child migrating a new store (lite_migrate.py)
        self.reloader = Reloader(workspace)
        self.ide_mounted = False
        self.app: Any = None
        self.background: set[asyncio.Task[Any]] = set()

    async def serve(self, sock: socket.socket) -> None:
        import uvicorn

        from leoflow.app.server import build_app

        app = build_app(self.settings, grpc_port=self.grpc_port, code_roots=(self.workspace,),
                        airflow_ui_prefix="/airflow", passwords=self.passwords,
                        lazy_routes=True)
        self.app = app
        self._wrap_lifespan(app)
        self.ide_mounted = self._mount_ide(app)
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False,
                                timeout_graceful_shutdown=3, ws="auto")
        if self.collector is not None:
            # Before the server object exists: NiceGUI's lifespan looks for it among the
            # collector's objects, a walk that skips the frozen ones (lite_start.py).
            self.collector.resume()
        server = _make_server(config, say=self.options.say)
        announce = asyncio.create_task(self._announce(server), name="leoflow-lite-announce")
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn's answer to a failed startup, logged above
            raise LeoflowError("Lite could not start (see the messages above)") from None
        finally:
            announce.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announce
            sock.close()
        self.options.say("Leoflow Lite stopped")

    def _wrap_lifespan(self, app: Any) -> None:
        """Run the reloader and the orderly stop inside ``build_app``'s lifespan (which
        starts and stops the control plane around them)."""
        inner = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[Any]:
            if self.migration is not None:  # its store first (else opened and migrated here)
                await asyncio.to_thread(self.migration.wait)
            async with inner(app) as state:
                plane = app.state.plane
                self.reloader.plane = plane.services
                # The workspace is compiled once requests are served (see _announce): the
                # compile children would otherwise compete with the first page for the CPU.
                await self.reloader.start(scan=False)
                try:
                    yield state
                finally:
                    self.options.say("stopping Leoflow Lite...")
                    await self.reloader.stop()
                    cancelled = await cancel_running_tasks(plane, STOP_REASON)
                    if cancelled:
                        self.options.say(f"cancelled {cancelled} running task instance"
                                         f"{'' if cancelled == 1 else 's'} (recorded as "
                                         "failed: Lite was stopped)")

        app.router.lifespan_context = lifespan

    def _mount_ide(self, app: Any) -> bool:
        """Mount the NiceGUI IDE when it is installed; without it Lite serves the API."""
        from leoflow.app.lite_start import (
            CLIENT_ONLY_PACKAGES,
            MANAGER_ONLY_PACKAGES,
            deferred_imports,
            withheld_imports,
        )

        try:
            with deferred_imports(CLIENT_ONLY_PACKAGES), \
                    withheld_imports(MANAGER_ONLY_PACKAGES):
                import leoflow.ide as ide
                from leoflow.ide.services import IdeServices
        except ImportError as exc:
            log.warning("the IDE is not available (%s); serving the API only", exc)
            return False
        mount = getattr(ide, "mount", None)
        if mount is None:
            log.warning("the IDE is not available (leoflow.ide has no mount); serving the "
                        "API only")
            return False
        from leoflow.app.lite_state import ide_secret
        from leoflow.app.workspace import bundled_examples_dir, copy_examples

        services = IdeServices(workspace=self.workspace, reloader=self.reloader,
                               examples_dir=bundled_examples_dir(),
                               copy_examples=copy_examples)
        # only the login page is imported before Lite serves; the others on first request
        with deferred_imports(CLIENT_ONLY_PACKAGES), \
                withheld_imports(MANAGER_ONLY_PACKAGES):  # NiceGUI's socketio clients
            mount(app, services, storage_secret=ide_secret(self.settings.home),
                  lazy_pages=True)
        return True

    async def _announce(self, server: Any) -> None:
        for _ in range(6000):  # up to 60 s
            if server.started or server.should_exit:
                break
            await asyncio.sleep(0.01)
        if not server.started:
            return
        self.lock.update(url=self.url)
        self._banner(time.monotonic() - self.started)
        if self.options.open_browser and _has_display():
            import webbrowser

            task = asyncio.create_task(asyncio.to_thread(webbrowser.open, self.url))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        await _first_page_or(server, SCAN_DELAY)
        if not server.should_exit:
            self.reloader.scan()
            # The API's route modules were left to their first request: import the rest now,
            # one at a time between requests, so that the API's first answers stay quick.
            from leoflow.engine.api.lazy_routes import warm_up

            await warm_up(self.app)

    def _banner(self, seconds: float) -> None:
        from leoflow import __version__
        from leoflow.engine.backup.sqlite import sqlite_path

        say = self.options.say
        database = sqlite_path(self.settings.database_url)
        store = f"SQLite {database}" if database else "PostgreSQL"
        say("")
        say(f"Leoflow Lite {__version__} is ready in {seconds:.1f} s: {self.url}")
        if self.password:
            say("  login      admin")
            say(f"  password   {self.password}")
            say("             (shown once: note it; `leoflow lite reset-password` makes a "
                "new one)")
        else:
            say("  login      admin (password from the first start or "
                "LEOFLOW_BOOTSTRAP_PASSWORD; forgot it? `leoflow lite reset-password`)")
        say(f"  workspace  {self.workspace}   your DAG projects: saving one registers it")
        say(f"  home       {self.settings.home}   logs, environments, settings")
        say(f"  store      {store}")
        if not self.ide_mounted:
            say(f"  IDE        not installed: the API is at {self.url}/api/v2 "
                f"({self.url}/docs)")
        if self.options.host not in LOOPBACK:
            say(f"  WARNING    listening on {self.options.host}: anyone who can reach this "
                "machine and log in can edit and run code in the workspace through the "
                "editor")
        say("Press Ctrl-C to stop.")
        say("")


SCAN_DELAY = 1.0  # seconds after listening at most, before the workspace is compiled
QUIET = 0.2  # no request in flight for this long after the first: the first page is served


async def _first_page_or(server: Any, limit: float) -> None:
    """Return once the first requests were answered (none in flight for ``QUIET`` s) or
    after ``limit`` s: compiling the workspace (child processes, environments) would
    otherwise compete with the first page for a 2-core machine's CPU."""
    state = server.server_state
    deadline = time.monotonic() + limit
    quiet_since = None
    while (now := time.monotonic()) < deadline and not server.should_exit:
        if state.total_requests and not state.tasks:
            quiet_since = quiet_since or now
            if now - quiet_since >= QUIET:
                return
        else:
            quiet_since = None
        await asyncio.sleep(0.02)


def _has_display() -> bool:
    """Whether a graphical browser can open here. Without a display, Python's webbrowser
    would start a text browser (lynx, w3m) in Lite's own terminal."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _make_server(config: Any, *, say: Callable[[str], None]) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, minus re-raising the stop signal after a clean shutdown (Lite
        exits with status 0 after Ctrl-C), plus a note on a second Ctrl-C."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.should_exit and sig == signal.SIGINT:
                say("Ctrl-C again: stopping at once")
                self.force_exit = True
            else:
                self.should_exit = True

    return Server(config)
