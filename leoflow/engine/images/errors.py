"""Errors of DAG image generation and builds: each says what is missing and what to do."""

from __future__ import annotations

from pathlib import Path

from leoflow.errors import LeoflowError


class ImageError(LeoflowError):
    """A DAG image that cannot be planned, written or built."""


class ImageEngineError(ImageError):
    """No Docker engine (or no ``docker`` package) to build with.

    The Dockerfile and build context were written anyway: ``context`` is where, so the
    message can tell the user how to build them with another builder.
    """

    def __init__(self, message: str, *, context: Path | None = None) -> None:
        super().__init__(message)
        self.context = context


class ImageBuildError(ImageError):
    """The engine was there but the build or the push failed (the engine's own message)."""
