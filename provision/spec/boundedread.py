"""Reading a file a stack names or is, without being fooled by what sits at the path.

Stacks and secret files are both read this way: opened non-blocking (a FIFO cannot hang
the read), only a regular file is accepted (not /dev/zero, not a device), and never more
than a limit plus one byte, so an oversized file is recognised without reading it all.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """The path is not a regular file; `mode` says what it is."""

    def __init__(self, mode: int) -> None:
        super().__init__(f"not a regular file (mode {mode:o})")
        self.mode = mode


class TooLarge(OSError):
    """The file holds more than the limit."""


def read_bounded(path: Path, limit: int, *, follow_symlinks: bool = True) -> bytes:
    """At most `limit` bytes of a regular file. Raises OSError (as `os.open` does),
    NotRegularFile or TooLarge."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegularFile(mode)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"more than {limit} bytes")
    return data
