"""Cross-site request forgery: when a browser's cookie may act for its user.

A browser sends the ``_token`` cookie with every request to this server, also when the page
that makes the request is someone else's. SameSite does not stop that from another port of
the same host (``127.0.0.1:9999`` and ``127.0.0.1:8088`` are the same *site*), and an HTML
form or a ``no-cors`` fetch can post any body as ``text/plain`` without a CORS preflight.
So a write authenticated by the cookie (any method but GET, HEAD and OPTIONS, without an
``Authorization`` header) is accepted only when

* its ``Origin`` header (or, when a browser sent none, its ``Referer``) names this server:
  the same host and port as the ``Host`` header, or one of the configured trusted origins
  (``LEOFLOW_TRUSTED_ORIGINS``, for a proxy that rewrites ``Host``). No Origin and no
  Referer is refused too: browsers send one on every cross-site write, and API clients
  authenticate with ``Authorization: Bearer``, which a foreign page cannot set;
* its body, if any, is JSON (``application/json`` or ``*/*+json``) or a type the route
  declares (``multipart/form-data`` for uploads): a type a form can send needs a
  preflight otherwise.

Requests with an ``Authorization`` header are not affected: a page of another origin cannot
add one without a CORS preflight, which this server never grants.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from leoflow.engine.services.errors import ServiceError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_TYPES = ("application/json",)
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class CrossSiteRequest(ServiceError):
    """A cookie-authenticated write from a page that is not this server's (403)."""

    status = 403


class UnsupportedBody(ServiceError):
    """A cookie-authenticated write whose body is not JSON (415)."""

    status = 415


def _host_port(scheme: str, netloc: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if port is None or port == DEFAULT_PORTS.get(scheme):
        port = DEFAULT_PORTS.get(scheme) if scheme else None
    return host.lower().rstrip("."), port


def origin_of(url: str | None) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of an Origin or Referer value; ``None`` for ``null``,
    empty or unparsable values."""
    if not url or url == "null":
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        return None
    found = _host_port(scheme, parts.netloc.rsplit("@", 1)[-1])
    return (scheme, *found) if found else None


def same_origin(origin: str | None, host_header: str | None, *,
                trusted_origins: Iterable[str] = ()) -> bool:
    """Whether ``origin`` (an Origin or Referer value) is this server: its host and port
    are those of the request's ``Host`` header, or it is one of ``trusted_origins``."""
    claimed = origin_of(origin)
    if claimed is None:
        return False
    scheme, host, port = claimed
    for trusted in trusted_origins:
        if origin_of(trusted) == claimed:
            return True
    if not host_header:
        return False
    served = _host_port(scheme, host_header.strip())
    return served == (host, port)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_cookie_write(method: str, *, origin: str | None, referer: str | None,
                       host: str | None, content_type: str | None, has_body: bool,
                       trusted_origins: Collection[str] = (),
                       body_types: Collection[str] = ()) -> None:
    """Refuse a forged write authenticated by the cookie (see the module docstring):
    ``CrossSiteRequest`` for a foreign or unknown origin, ``UnsupportedBody`` for a body
    that is not JSON nor one of ``body_types``. Safe methods always pass."""
    if method.upper() in SAFE_METHODS:
        return
    source = origin if origin is not None else referer
    if source is None:
        raise CrossSiteRequest(
            "a write authenticated by the _token cookie needs an Origin or Referer header "
            "naming this server; API clients send Authorization: Bearer <token> instead")
    if not same_origin(source, host, trusted_origins=trusted_origins):
        what = "Origin" if origin is not None else "Referer"
        raise CrossSiteRequest(
            f"cross-site request refused: {what} {source[:200]!r} is not this server "
            f"({host or 'no Host header'}); a page of another origin cannot write with "
            "your session (set LEOFLOW_TRUSTED_ORIGINS if a proxy rewrites Host)")
    if has_body:
        kind = media_type(content_type)
        if not (kind in JSON_TYPES or kind.endswith("+json") or kind in body_types):
            raise UnsupportedBody(
                f"Content-Type {kind or '(none)'!r} is not accepted for a write authenticated "
                "by the _token cookie; send JSON (Content-Type: application/json)")
