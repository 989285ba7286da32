"""DAG images: a Dockerfile and build context generated from leoflow.yaml, built and pushed
through the Docker Engine API when an engine is reachable.

``context`` and ``dockerfile`` are pure file generation; ``builder`` talks to the engine and
is the only module that imports ``docker`` (lazily). See docs/images.md.
"""

from leoflow.engine.images.builder import BuiltImage, build_image
from leoflow.engine.images.context import (
    BuildContext,
    context_dir_for,
    plan_image,
    write_context,
)
from leoflow.engine.images.dockerfile import ImagePlan, render_dockerfile
from leoflow.engine.images.errors import ImageBuildError, ImageEngineError, ImageError
from leoflow.engine.images.naming import default_image, resolve_image, spec_hash

__all__ = [
    "BuildContext",
    "BuiltImage",
    "ImageBuildError",
    "ImageEngineError",
    "ImageError",
    "ImagePlan",
    "build_image",
    "context_dir_for",
    "default_image",
    "plan_image",
    "render_dockerfile",
    "resolve_image",
    "spec_hash",
    "write_context",
]
