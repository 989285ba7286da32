"""Finding the line of the user's DAG file that is defining something.

Every error and every task in dag.json names the line of the user's code it came from, so
the IDE can put a diagnostic at that line and the CLI can print ``dag.py:12``.
"""

from __future__ import annotations

import os
import sys

_SDK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_frame_location() -> tuple[str | None, int | None]:
    """Return ``(file, line)`` of the innermost caller outside the leoflow package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_SDK_ROOT + os.sep) and not filename.startswith("<frozen"):
            return filename, frame.f_lineno
        frame = frame.f_back
    return None, None
