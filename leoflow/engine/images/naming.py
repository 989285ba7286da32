"""Image references: the default name of a DAG's image, and checks of one given by a user."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from leoflow.engine.images.errors import ImageError

# Docker's reference grammar, simplified: [registry[:port]/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:(?P<registry>[A-Za-z0-9.-]+(?::\d+)?)/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$")
TAG_LENGTH = 12


def spec_hash(documents: Sequence[Mapping[str, Any]]) -> str:
    """The hex hash an image is tagged with: the DAG's content hash (one hash over them all
    when the project defines several DAGs, which share one image)."""
    hashes = sorted(str(doc["content_hash"]) for doc in documents)
    if len(hashes) == 1:
        return hashes[0].split(":", 1)[-1]
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def repository_for(dag_id: str) -> str:
    """``leoflow-dag-<dag_id>``, lowercased; a dag_id a repository name cannot hold as it is
    (``a..b``, ``a_-b``) has its runs of other characters than letters and digits turned
    into '-'."""
    lowered = dag_id.lower()
    if not re.fullmatch(_COMPONENT, lowered):
        lowered = re.sub(r"[^a-z0-9]+", "-", lowered).strip("-") or "dag"
    return f"leoflow-dag-{lowered}"


def default_image(dag_id: str, hex_hash: str) -> str:
    """``leoflow-dag-<dag_id>:<first 12 hex of the content hash>``."""
    return f"{repository_for(dag_id)}:{hex_hash[:TAG_LENGTH]}"


def split_reference(reference: str) -> tuple[str, str | None]:
    """``(repository, tag)`` of ``name[:tag]``; the tag is None when it is not given."""
    name, _, tag = reference.rpartition(":")
    if name and "/" not in tag:
        return name, tag
    return reference, None


def resolve_image(requested: str | None, *, declared: str | None, dag_id: str,
                  hex_hash: str) -> str:
    """The reference to build: ``--image`` wins, then leoflow.yaml's ``image:``, then the
    default. A reference without a tag gets the content-hash tag."""
    if not requested and not declared:
        return default_image(dag_id, hex_hash)
    reference = str(requested or declared).strip()
    origin = "--image" if requested else "leoflow.yaml image"
    if "@" in reference:
        raise ImageError(f"{origin} {reference!r}: give NAME:TAG to build, not a digest "
                         "(the digest is recorded in dag.json after --push)")
    if not _REFERENCE.match(reference):
        raise ImageError(
            f"{origin} {reference!r} is not an image reference: use [REGISTRY/]NAME[:TAG] "
            "with a lowercase NAME (letters, digits, '.', '_', '-', '/')")
    repository, tag = split_reference(reference)
    return reference if tag else f"{repository}:{hex_hash[:TAG_LENGTH]}"
