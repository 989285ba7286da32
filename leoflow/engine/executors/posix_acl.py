"""POSIX ACL entries on Linux, read and written as the kernel stores them (an extended
attribute), without ``setfacl``.

Tenant isolation (``isolation.py``) opens one folder of the control plane to one task user
(``user:<uid>:r-x``) or lets every task user pass through a folder without listing it
(``group:leoflow-tasks:--x``), without changing the folder's owner or its mode for anyone
else: that is what an ACL entry is for, and ``chmod``/``chown`` cannot say it.

The attribute ``system.posix_acl_access`` is a little-endian header (version 2) followed by
entries of (tag: u16, permissions: u16, id: u32), sorted by tag then id. A file without the
attribute has the three entries its mode says (owner, group, other). Adding a named entry
needs a mask entry, the union of the group class (the owning group and the named entries);
the kernel then shows the mask as the mode's group bits.

Every change is made through an open file descriptor (``O_NOFOLLOW``): a link planted where
a folder was expected is refused, never followed.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from pathlib import Path

ACCESS = "system.posix_acl_access"
VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED = 0xFFFFFFFF
READ, WRITE, EXECUTE = 4, 2, 1

Entries = dict[tuple[int, int], int]  # (tag, id) -> permissions


class AclUnsupported(OSError):
    """The file system keeps no POSIX ACLs (mounted without them, or not Linux)."""


def parse(data: bytes) -> Entries:
    (version,) = struct.unpack_from("<I", data)
    if version != VERSION:
        raise ValueError(f"unknown ACL version {version}")
    entries: Entries = {}
    for offset in range(4, len(data) - 7, 8):
        tag, perm, ident = struct.unpack_from("<HHI", data, offset)
        entries[(tag, ident)] = perm
    return entries


def encode(entries: Entries) -> bytes:
    body = b"".join(struct.pack("<HHI", tag, perm, ident)
                    for (tag, ident), perm in sorted(entries.items()))
    return struct.pack("<I", VERSION) + body


def from_mode(mode: int) -> Entries:
    """The minimal ACL a file without the attribute has."""
    return {(USER_OBJ, UNDEFINED): (mode >> 6) & 7, (GROUP_OBJ, UNDEFINED): (mode >> 3) & 7,
            (OTHER, UNDEFINED): mode & 7}


def read(fd: int) -> Entries:
    try:
        return parse(os.getxattr(fd, ACCESS))
    except OSError as exc:
        if exc.errno == errno.ENODATA:
            return from_mode(os.fstat(fd).st_mode)
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOTSUP):
            raise AclUnsupported(exc.errno, "the file system keeps no POSIX ACLs") from exc
        raise


def _write(fd: int, entries: Entries) -> None:
    named = [perm for (tag, _), perm in entries.items() if tag in (USER, GROUP)]
    if named:
        group_class = entries.get((GROUP_OBJ, UNDEFINED), 0)
        for perm in named:
            group_class |= perm
        entries[(MASK, UNDEFINED)] = group_class
    else:
        entries.pop((MASK, UNDEFINED), None)
    try:
        os.setxattr(fd, ACCESS, encode(entries))
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOTSUP):
            raise AclUnsupported(exc.errno, "the file system keeps no POSIX ACLs") from exc
        raise


def open_nofollow(path: str | Path) -> int:
    """An fd on ``path`` itself (file or folder), refusing a symbolic link."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)


def grant_fd(fd: int, *, perms: int, uid: int | None = None, gid: int | None = None) -> bool:
    """Add ``perms`` for a named user or group (kept if already there); True if changed."""
    if uid is not None:
        key = (USER, uid)
    elif gid is not None:
        key = (GROUP, gid)
    else:
        raise ValueError("an ACL entry names a user (uid) or a group (gid); neither was given")
    entries = read(fd)
    before = entries.get(key, 0)
    if before | perms == before and (MASK, UNDEFINED) in entries \
            and entries[(MASK, UNDEFINED)] & perms == perms:
        return False
    entries[key] = before | perms
    _write(fd, entries)
    return True


def grant(path: str | Path, *, perms: int, uid: int | None = None,
          gid: int | None = None) -> bool:
    fd = open_nofollow(path)
    try:
        return grant_fd(fd, perms=perms, uid=uid, gid=gid)
    finally:
        os.close(fd)


def revoke(path: str | Path, *, uid: int | None = None, gid: int | None = None) -> None:
    """Remove the named entry (and the mask when no named entry is left)."""
    fd = open_nofollow(path)
    try:
        entries = read(fd)
        if entries.pop((USER, uid) if uid is not None else (GROUP, gid), None) is not None:  # type: ignore[arg-type]
            _write(fd, entries)
    finally:
        os.close(fd)


def named_perms(path: str | Path, *, uid: int | None = None, gid: int | None = None) -> int:
    """The permissions of a named entry (0 when there is none)."""
    fd = open_nofollow(path)
    try:
        entries = read(fd)
    finally:
        os.close(fd)
    return entries.get((USER, uid) if uid is not None else (GROUP, gid), 0)  # type: ignore[arg-type]


def is_dir_fd(fd: int) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)
