"""``leoflow lite backup`` and ``restore``: Lite's names and rules around the engine's
backup (``leoflow.engine.backup``).

What is Lite's own in the home is left out of a backup (its lock, its remembered choices,
the embedded PostgreSQL's data, environments, scratch); a restore is refused while a Lite
server runs on the home, and remembers the restored workspace.
"""

from __future__ import annotations

from pathlib import Path

from leoflow.app.lite_lock import LOCK_FILE, running_server
from leoflow.app.lite_state import PGDATA_DIR, STATE_FILE, LiteConfig, LiteStateError
from leoflow.engine.backup import archive
from leoflow.engine.backup import restore as restoring
from leoflow.engine.backup.archive import BackupReport
from leoflow.engine.backup.restore import RestoreReport

# Never in a backup: rebuildable, machine-bound or live files of the home.
HOME_EXCLUDED = frozenset({"venvs", PGDATA_DIR, LOCK_FILE, STATE_FILE, "tmp"})


def backup(home: Path, workspace: Path, database_url: str, target: Path) -> BackupReport:
    """Write the Lite state to ``target`` (``.tar.gz``, mode 0600); safe while Lite runs."""
    from leoflow import __version__

    return archive.backup(home, workspace, database_url, target,
                          home_excluded=HOME_EXCLUDED, version=__version__)


def restore(home: Path, workspace: Path, database_url: str, source: Path) -> RestoreReport:
    """Replace the Lite state by the backup's. Refuses while a Lite server runs on this
    home. The previous state is set aside (``RestoreReport.set_aside``)."""
    running = running_server(home)
    if running is not None:
        raise LiteStateError(
            f"Leoflow Lite is running (pid {running.get('pid', '?')}); stop it before "
            "restoring a backup")
    report = restoring.restore(home, workspace, database_url, source)
    config = LiteConfig.load(home)
    LiteConfig(workspace=workspace, postgres=config.postgres,
               grpc_port=config.grpc_port).save(home)
    return report
