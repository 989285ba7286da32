"""Where a login may send the browser next: only a path on this server.

``next=`` comes from a link anyone can craft. A browser reads more forms as "another host"
than ``urllib`` does: ``/\\evil.example`` and ``/\t/evil.example`` (it drops tabs and
newlines, and treats ``\\`` as ``/`` in http URLs) both go to ``evil.example``, as do
``//evil.example``, ``https://evil.example`` and ``javascript:...``. So a target is kept
only when it is a plain absolute path: it starts with one ``/`` followed by something
other than ``/`` or ``\\``, holds no backslash, no whitespace or control character, and
parses with no scheme and no host. Anything else becomes ``/``. The query string was
decoded once already (``%2F%2Fevil`` arrives as ``//evil`` and is refused); a target still
holding escapes (``/%2F/evil``) is a path on this server, which is harmless.
"""

from __future__ import annotations

from urllib.parse import urlsplit

HOME = "/"
MAX_LENGTH = 2000


def safe_next(target: object) -> str:
    """``target`` when it is a same-origin path (see the module docstring), else ``/``."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return HOME
    if not target.startswith("/") or target[1:2] in ("/", "\\"):
        return HOME
    if "\\" in target or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F
                             for ch in target):
        return HOME
    try:
        parts = urlsplit(target)
    except ValueError:
        return HOME
    if parts.scheme or parts.netloc:
        return HOME
    return target
