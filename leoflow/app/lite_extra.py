"""Whether Lite's IDE is installed: the ``lite`` extra (``nicegui``).

``leoflow-server`` and ``leoflow-agent`` never serve the IDE, so its packages are not core
dependencies and the server and agent images go without them (pyproject.toml's ``lite``
extra; ``install.sh`` installs it). ``leoflow lite`` checks first and says in one line how
to get it, instead of failing later with a traceback or starting without its IDE.
"""

from __future__ import annotations

import importlib.util

LITE_PACKAGES = ("nicegui",)
INSTALL_HINT = ("leoflow lite needs the IDE's packages ({missing}): install them with "
                "pip install 'leoflow[lite]' (./install.sh does)")


def missing_lite_packages() -> list[str]:
    """The packages of the ``lite`` extra this interpreter cannot import."""
    missing = []
    for name in LITE_PACKAGES:
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # a broken or half-removed install
            found = None
        if found is None:
            missing.append(name)
    return missing


def lite_extra_problem() -> str | None:
    """One line saying how to install the ``lite`` extra, or None when it is installed."""
    missing = missing_lite_packages()
    return INSTALL_HINT.format(missing=", ".join(missing)) if missing else None
