"""Build and push a DAG image through the Docker Engine API (the ``docker`` package).

``docker`` is imported here only, inside ``build_image``: ``leoflow --help`` and a compile
without ``--build`` never load it. When the package or an engine is missing the error says
which, and where the context was written so that another builder can take over.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leoflow.engine.images.context import BuildContext
from leoflow.engine.images.errors import ImageBuildError, ImageEngineError
from leoflow.engine.images.naming import split_reference

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# seconds to wait for the engine's next output line: a slow pip install is quiet for a while
ENGINE_TIMEOUT = 900


@dataclass(frozen=True)
class BuiltImage:
    """What the engine made: the tag built, its image id, and the reference to record
    (``name:tag@sha256:...`` once pushed with a digest, else ``name:tag``)."""

    image: str
    image_id: str | None
    reference: str
    pushed: bool
    digest: str | None = None


def engine_address(environ: Mapping[str, str] | None = None) -> str:
    """Where the docker package looks for an engine, and whether DOCKER_HOST said so."""
    env = os.environ if environ is None else environ
    host = env.get("DOCKER_HOST")
    return f"{host} (DOCKER_HOST)" if host else f"{DEFAULT_DOCKER_HOST} (DOCKER_HOST unset)"


def other_builders(context: BuildContext) -> str:
    """How to build the written context without Leoflow's engine connection."""
    path, image = context.path, context.plan.image
    return (f"The Dockerfile and build context are in {path}; build them with any builder:\n"
            f"  docker build -t {image} {path}\n"
            f"  buildah bud -t {image} {path}\n"
            f"  kaniko: /kaniko/executor --context dir://{path} --destination {image}\n"
            f"then record the image in dag.json: set 'image: {image}' in leoflow.yaml and "
            "compile again.")


def build_image(context: BuildContext, *, push: bool = False,
                progress: Callable[[str], None] = lambda line: None) -> BuiltImage:
    """Build ``context`` as ``context.plan.image`` and optionally push it.

    ``progress`` receives the engine's output, one line at a time, as it streams.
    """
    try:
        import docker
        import docker.errors
    except ImportError:
        raise ImageEngineError(
            "cannot build: the 'docker' Python package is not installed (pip install "
            f"'leoflow[pro]').\n{other_builders(context)}", context=context.path) from None
    where = engine_address()
    try:
        client = docker.from_env(timeout=ENGINE_TIMEOUT)
        client.ping()
    except docker.errors.DockerException as exc:
        raise ImageEngineError(
            f"cannot build: no Docker engine at {where}: {_why(exc)}.\n"
            f"{other_builders(context)}", context=context.path) from None
    try:
        image = context.plan.image
        progress(f"building {image} from {context.path} (engine at {where})")
        image_id = _stream(client.api.build(
            path=str(context.path), tag=image, rm=True, forcerm=True, decode=True),
            progress, what="build")
        if not push:
            return BuiltImage(image=image, image_id=image_id, reference=image, pushed=False)
        repository, tag = split_reference(image)
        progress(f"pushing {image}")
        digest = _push_digest(client.api.push(repository, tag=tag, stream=True, decode=True),
                              progress)
        reference = f"{image}@{digest}" if digest else image
        return BuiltImage(image=image, image_id=image_id, reference=reference, pushed=True,
                          digest=digest)
    except docker.errors.DockerException as exc:
        raise ImageBuildError(f"the Docker engine at {where} failed: {_first_line(exc)}"
                              ) from None
    finally:
        client.close()


def _stream(chunks: Iterable[Mapping[str, Any]], progress: Callable[[str], None], *,
            what: str) -> str | None:
    """Relay build output; return the image id the engine announces (``aux.ID``)."""
    image_id = None
    for chunk in chunks:
        _raise_on_error(chunk, what)
        text = chunk.get("stream") or chunk.get("status")
        if text:
            for line in str(text).splitlines():
                if line.strip():
                    progress(line.rstrip())
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and aux.get("ID"):
            image_id = str(aux["ID"])
    return image_id


def _push_digest(chunks: Iterable[Mapping[str, Any]],
                 progress: Callable[[str], None]) -> str | None:
    digest = None
    for chunk in chunks:
        _raise_on_error(chunk, "push")
        status = chunk.get("status")
        if status:
            progress(f"{chunk['id']}: {status}" if chunk.get("id") else str(status))
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and aux.get("Digest"):
            digest = str(aux["Digest"])
    return digest


def _raise_on_error(chunk: Mapping[str, Any], what: str) -> None:
    error = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message")
    if error:
        raise ImageBuildError(f"the image {what} failed: {str(error).strip()}")


def _why(exc: BaseException) -> str:
    """The root cause in a few words ("connection refused"), not urllib3's whole chain."""
    text = str(exc)
    for pattern in (r"\[Errno -?\d+\] ([^'\")\]]+)", r"FileNotFoundError\(\d+, '([^']+)'\)",
                    r"PermissionError\(\d+, '([^']+)'\)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip().rstrip(".").lower()
    return _first_line(exc)[:300]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
