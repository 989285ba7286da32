"""Finding the line of the user's DAG file that is defining something.

Every error and every task in dag.json names the line of the user's code it came from, so
the IDE can put a diagnostic at that line and the CLI can print ``dag.py:12``.
"""

from __future__ import annotations

import os
import sys
from types import FrameType

_SDK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_frame_location() -> tuple[str | None, int | None]:
    """Return ``(file, line)`` of the innermost caller outside the leoflow package."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_SDK_ROOT + os.sep) and not filename.startswith("<frozen"):
            return filename, frame.f_lineno
        frame = frame.f_back
    return None, None


def defining_module_file() -> str | None:
    """The file whose module-level code is running at the innermost point of the call
    stack outside the leoflow package: the DAG file itself for a DAG it creates (directly or
    through a helper's factory function), another module's file for a DAG created while that
    module is being imported (``from other_dag_file import X``)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "<module>" and not code.co_filename.startswith(
                (_SDK_ROOT + os.sep, "<frozen")):
            return code.co_filename
        frame = frame.f_back
    return None
