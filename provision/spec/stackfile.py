"""Reading a stack file's text: only regular files, bounded in size, UTF-8.

Apart from the YAML parsers (`yamlread`, `fastcompose`) so that reading a stack
costs no YAML library import: the plain path never needs ruamel.
"""

from __future__ import annotations

import stat
from pathlib import Path

from provision.spec.boundedread import NotRegularFile, TooLarge, read_bounded
from provision.spec.limits import MAX_FILE_BYTES


class StackReadError(Exception):
    """The file cannot be read as a stack; the message is one line without the path."""


def read_stack_file(path: Path) -> str:
    """The text of `path`, refusing non-regular files, oversized files and bad UTF-8."""
    try:
        data = read_bounded(path, MAX_FILE_BYTES)
    except NotRegularFile as exc:
        raise StackReadError(f"not a regular file ({_file_kind(exc.mode)}); a stack is a YAML file") from None
    except TooLarge:
        mib = MAX_FILE_BYTES // (1024 * 1024)
        raise StackReadError(f"file is larger than {mib} MiB; no cluster needs that") from None
    except FileNotFoundError:
        raise StackReadError("file not found") from None
    except OSError as exc:
        raise StackReadError(f"cannot read file: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise StackReadError(f"{line}:{col}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


__all__ = ["StackReadError", "read_stack_file"]
