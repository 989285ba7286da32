"""What a compile keeps of the output a DAG file prints: its head and its tail, bounded.

A DAG file is untrusted code and may print a gigabyte at import. The compiler used to
collect it whole (``communicate``: 2 GB of memory for 1 GB printed); now each stream keeps
its first and last ``limit / 2`` bytes and counts what it dropped in between, so the
memory a compile costs the control plane does not depend on what the DAG file prints.
"""

from __future__ import annotations

DEFAULT_OUTPUT_LIMIT = 1 << 20  # 1 MiB kept per stream: 512 KiB head + 512 KiB tail


class BoundedOutput:
    """The head and tail of a byte stream, at most ``limit`` bytes in all."""

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.limit = max(2, limit)
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit // 2 - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            half = self.limit - self.limit // 2
            self._tail += data[-half:]
            if len(self._tail) > half:
                del self._tail[:len(self._tail) - half]

    @property
    def cut(self) -> int:
        """Bytes dropped between the head and the tail."""
        return self.total - len(self._head) - len(self._tail)

    def text(self) -> str:
        """The kept output; a line in the middle says how much was cut."""
        head = self._head.decode("utf-8", "replace")
        if not self.cut:
            return head + self._tail.decode("utf-8", "replace")
        return (f"{head}\n[... {_size(self.cut)} of output cut: {_size(self.total)} in all, "
                f"the first and last {_size(self.limit // 2)} kept ...]\n"
                + self._tail.decode("utf-8", "replace"))


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
