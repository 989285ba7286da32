"""The root of Leoflow's error tree, shared by every layer.

This module imports the standard library only: it is loaded inside every DAG's own
environment (by the SDK) as well as in the control plane. Errors raised by user code are
never wrapped in these classes; they travel as data (type, message, traceback) instead.
"""

from __future__ import annotations


class LeoflowError(Exception):
    """Base class of every error Leoflow raises on purpose.

    ``str(error)`` is a one-line message that a user can act on; the CLI prints it without a
    traceback.
    """


class LocatedError(LeoflowError):
    """An error that points at a place in a user's file (``file:line: message``)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = self.file or ""
        if where and self.line:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}" if where else self.message


class InvariantError(RuntimeError):
    """Leoflow's own code broke a promise it makes to itself: a bug to report, not a user error.

    Raised where a bare ``assert`` used to stand (a row the same transaction just wrote is
    gone, a pipe the process was started with is missing): unlike ``assert`` it still fires
    under ``python -O``, and its message says which promise was broken. Not a LeoflowError
    on purpose: nothing a user did can cause it, so it is never shown as a user's mistake
    (the API answers 500, the CLI prints the traceback), as the AssertionError was.
    """
