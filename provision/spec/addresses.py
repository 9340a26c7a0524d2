"""Stable addresses of managed objects, e.g. `ceph.osd["pve01:/dev/sdb"]`.

Addresses are values: they print, compare and sort, and every output sorts by
them so the same plan always renders the same text. `--target` parses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_SEGMENT = re.compile(r'([a-z_]+)(?:\[(?:"([^"]*)"|(\d+))\])?')


@total_ordering
@dataclass(frozen=True)
class Address:
    """A path of `(kind, key)` segments; key is None for singletons (`corosync.totem`)."""

    segments: tuple[tuple[str, str | int | None], ...]

    @classmethod
    def of(cls, *parts: tuple[str, str | int | None] | str) -> Address:
        segs: list[tuple[str, str | int | None]] = []
        for part in parts:
            segs.append((part, None) if isinstance(part, str) else part)
        return cls(tuple(segs))

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse `network["pve01"].bond["bond0"]`; raises ValueError on bad syntax."""
        segs: list[tuple[str, str | int | None]] = []
        pos = 0
        text = text.strip()
        bad = ValueError(f"not an address: {text!r} (expected e.g. ceph.pool[\"vm-pool\"])")
        while pos < len(text):
            match = _SEGMENT.match(text, pos)
            if not match or match.end() == pos:
                raise bad
            kind, skey, ikey = match.groups()
            segs.append((kind, skey if skey is not None else (int(ikey) if ikey is not None else None)))
            pos = match.end()
            if pos < len(text):
                if text[pos] != ".":
                    raise bad
                pos += 1
        if not segs:
            raise ValueError("empty address")
        return cls(tuple(segs))

    def child(self, kind: str, key: str | int | None = None) -> Address:
        return Address((*self.segments, (kind, key)))

    def contains(self, other: Address) -> bool:
        """True when `other` is this address or below it."""
        return other.segments[: len(self.segments)] == self.segments

    def _sort_key(self) -> tuple[tuple[str, int, str], ...]:
        return tuple(
            (kind, 0 if key is None else 1, f"{key:08d}" if isinstance(key, int) else (key or ""))
            for kind, key in self.segments
        )

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Address):
            return NotImplemented
        return self._sort_key() < other._sort_key()

    def __str__(self) -> str:
        out = []
        for kind, key in self.segments:
            if key is None:
                out.append(kind)
            elif isinstance(key, int):
                out.append(f"{kind}[{key}]")
            else:
                out.append(f'{kind}["{key}"]')
        return ".".join(out)

    def __repr__(self) -> str:
        return f"Address({self})"
