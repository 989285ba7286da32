"""``leoflow ui install``: fetch Apache Airflow's web UI for Leoflow to serve.

The built UI ships inside the ``apache-airflow-core`` wheel. Leoflow never copies it into
its own distribution: this command downloads that wheel from the package registry with pip
(no dependencies), checks its sha256 (against the table below for the versions Leoflow is
tested with, or a ``--sha256`` the user gives; pip has already checked it against the
registry's own hash), and extracts only the two folders the browser needs into
``LEOFLOW_HOME/airflow-ui/<version>/`` (or ``--dir``). leoflow-server and Lite serve them
from there (docs/airflow-ui.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from leoflow.errors import LeoflowError

PACKAGE = "apache-airflow-core"
DEFAULT_VERSION = "3.3.2"
# sha256 of the wheels Leoflow's UI API is tested against (the registry's published hash).
PINNED_SHA256 = {
    "3.3.2": "99258922bccec15be4700ff89f3c942b8acd93407e263c287ce863e671bb3c50",
}
# The folders of the wheel that are copied, and where they go under <dir>/<version>/.
MEMBERS = {
    "airflow/ui/dist/": "ui",
    "airflow/api_fastapi/auth/managers/simple/ui/dist/": "auth",
}
MARKER = "leoflow-ui.json"  # written last: a version without it is not served
UI_DIR_ENV = "LEOFLOW_AIRFLOW_UI_DIR"

Say = Callable[[str], None]

EPILOG = """\
examples:
  leoflow ui install                         Airflow 3.3.2's UI into LEOFLOW_HOME/airflow-ui
  leoflow ui install --version 3.3.2 --dir /opt/leoflow/airflow-ui
  leoflow ui install --wheel apache_airflow_core-3.3.2-py3-none-any.whl   (offline)
  leoflow ui status                          which UI is installed, and where

leoflow-server serves it at /, Lite at /airflow/ (docs/airflow-ui.md).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``leoflow ui install`` and ``leoflow ui status``."""
    parser = subparsers.add_parser(
        "ui", help="install Apache Airflow's web UI for Leoflow to serve",
        description="Install Apache Airflow's web UI (from the apache-airflow-core wheel) "
                    "for leoflow-server and Lite to serve.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="ui_command", metavar="COMMAND", required=True)
    install = commands.add_parser(
        "install", help="download the wheel, check it, extract the UI's files",
        description="Download apache-airflow-core (no dependencies) with pip, check its "
                    "sha256 and extract only the UI's files.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    install.add_argument("--version", default=DEFAULT_VERSION,
                         help=f"the Airflow version whose UI to install (default "
                              f"{DEFAULT_VERSION}, the one Leoflow is tested with)")
    install.add_argument("--dir", type=Path, metavar="PATH",
                         help=f"install under PATH/<version> (default: ${UI_DIR_ENV}, else "
                              "LEOFLOW_HOME/airflow-ui); the server reads the same variable")
    install.add_argument("--wheel", type=Path, metavar="FILE",
                         help="use this already-downloaded wheel instead of the registry")
    install.add_argument("--sha256", metavar="HEX",
                         help="the wheel's expected sha256 (default: Leoflow's table for "
                              "the versions it is tested with)")
    install.add_argument("--force", action="store_true",
                         help="reinstall even when this version is already installed")
    install.set_defaults(func=run_install)
    status = commands.add_parser("status", help="say which UI is installed, and where")
    status.add_argument("--dir", type=Path, metavar="PATH")
    status.set_defaults(func=run_status)
    return parser


def ui_root(given: Path | None = None) -> Path:
    """Where UI versions are installed: ``--dir``, ``$LEOFLOW_AIRFLOW_UI_DIR``, or the
    home's ``airflow-ui`` folder."""
    if given is not None:
        return given.expanduser()
    if os.environ.get(UI_DIR_ENV):
        return Path(os.environ[UI_DIR_ENV]).expanduser()
    from leoflow.app.settings import Settings

    return Settings.load().home / "airflow-ui"


def ui_roots(home: Path) -> list[Path]:
    """The folders the server looks in, first match wins."""
    roots = [Path(os.environ[UI_DIR_ENV]).expanduser()] if os.environ.get(UI_DIR_ENV) else []
    return [*roots, home / "airflow-ui"]


def run_install(args: argparse.Namespace) -> int:
    target = install_ui(args.version, ui_root(args.dir), wheel=args.wheel,
                        sha256=args.sha256, force=args.force)
    print(f"Airflow UI {args.version} installed in {target}")
    print("leoflow-server serves it at /, Lite at /airflow/ (no restart needed)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    root = ui_root(args.dir)
    found = sorted(p for p in root.glob(f"*/{MARKER}")) if root.is_dir() else []
    if not found:
        print(f"no Airflow UI installed in {root}: run `leoflow ui install`")
        return 1
    for marker in found:
        info = json.loads(marker.read_text("utf-8"))
        print(f"{info['version']}  sha256 {info['sha256']}  {marker.parent}")
    return 0


def install_ui(version: str, root: Path, *, wheel: Path | None = None,
               sha256: str | None = None, force: bool = False,
               say: Say = print) -> Path:
    """Download (unless ``wheel``), verify and extract; the installed version's folder."""
    target = root / version
    if (target / MARKER).is_file() and not force:
        say(f"Airflow UI {version} is already installed in {target} (--force reinstalls)")
        return target
    with tempfile.TemporaryDirectory(prefix="leoflow-ui-") as scratch:
        if wheel is None:
            wheel = download_wheel(version, Path(scratch), say=say)
        elif not wheel.is_file():
            raise LeoflowError(f"{wheel}: no such wheel file")
        digest = check_hash(wheel, version, sha256, say=say)
        say(f"extracting the UI from {wheel.name}...")
        count = extract(wheel, root, version, digest)
    say(f"extracted {count} files")
    return target


def download_wheel(version: str, into: Path, *, say: Say = print) -> Path:
    """``pip download --no-deps apache-airflow-core==VERSION`` with pip's own progress."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--progress-bar", "on", "-d", str(into),
               f"{PACKAGE}=={version}"]
    say(f"downloading {PACKAGE}=={version} (about 7 MB) with pip...")
    try:
        result = subprocess.run(command, stdout=None, stderr=subprocess.PIPE, text=True,
                                timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LeoflowError(f"could not run pip to download {PACKAGE}: {exc}") from None
    wheels = sorted(into.glob("apache_airflow_core-*.whl"))
    if result.returncode != 0 or not wheels:
        said = [line for line in (result.stderr or "").splitlines() if line.strip()]
        detail = "\n  ".join(said[-4:]) or f"pip exited with {result.returncode}"
        raise LeoflowError(
            f"could not download {PACKAGE}=={version} from the package registry:\n  {detail}"
            f"\nOffline or behind a proxy? On a connected machine run `pip download --no-deps "
            f"{PACKAGE}=={version}`, copy the wheel here and run `leoflow ui install "
            f"--version {version} --wheel PATH`.")
    sys.stderr.write(result.stderr or "")
    return wheels[-1]


def check_hash(wheel: Path, version: str, expected: str | None, *, say: Say = print) -> str:
    """The wheel's sha256, checked against ``expected`` or the pinned table."""
    digest = hashlib.sha256()
    with wheel.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    wanted = (expected or PINNED_SHA256.get(version) or "").lower()
    if wanted and actual != wanted:
        raise LeoflowError(f"{wheel.name}: sha256 {actual} does not match the expected "
                           f"{wanted}; the file is not the published {PACKAGE} {version} "
                           "(nothing was installed)")
    if wanted:
        say(f"sha256 {actual} matches the published {PACKAGE} {version}")
    else:
        say(f"sha256 {actual} (no pinned hash for {version}: pip checked it against the "
            "registry's; pass --sha256 to pin it)")
    return actual


def _member_target(name: str) -> tuple[str, PurePosixPath] | None:
    for prefix, folder in MEMBERS.items():
        if name.startswith(prefix) and not name.endswith("/"):
            relative = PurePosixPath(name[len(prefix):])
            if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                raise LeoflowError(f"refusing the wheel: member {name!r} escapes its folder")
            return folder, relative
    return None


def extract(wheel: Path, root: Path, version: str, sha256: str) -> int:
    """Extract the UI's folders into ``root/version`` through a sibling temporary folder
    renamed into place, the marker written last. Returns the number of files."""
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=root))
    count = 0
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                found = _member_target(info.filename)
                if found is None:
                    continue
                folder, relative = found
                destination = staging / folder / Path(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                count += 1
        if not (staging / "ui" / "index.html").is_file():
            raise LeoflowError(f"{wheel.name} holds no airflow/ui/dist/index.html: not a "
                               f"{PACKAGE} wheel with a built UI")
        (staging / MARKER).write_text(json.dumps(
            {"version": version, "sha256": sha256, "wheel": wheel.name, "files": count},
            indent=2) + "\n", "utf-8")
        target = root / version
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except zipfile.BadZipFile:
        raise LeoflowError(f"{wheel}: not a valid wheel (zip) file") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return count
