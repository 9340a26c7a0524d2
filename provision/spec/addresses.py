"""Stable addresses of managed objects, e.g. `ceph.osd["pve01:/dev/sdb"]`.

Addresses are values: they print, compare and sort, and every output sorts by
them so the same plan always renders the same text. `--target` parses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import total_ordering

# The kinds of object an address can name (design.md "Addresses"): root -> kinds below it.
KINDS: dict[str, frozenset[str]] = {
    "node": frozenset(), "cluster": frozenset(), "storage": frozenset(),
    "network": frozenset({"nic", "bond", "bridge", "vlan"}),
    "corosync": frozenset({"link", "totem"}), "quorum": frozenset({"qdevice"}),
    "ceph": frozenset({"mon", "mgr", "mds", "osd", "pool", "fs"}),
    "ha": frozenset({"group", "rule", "resource"}),
    "datacenter": frozenset(),
    "notifications": frozenset({"target", "matcher"}),
    "backups": frozenset({"job"}),
}

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


def kind_problem(address: Address) -> str | None:
    """Why `address` cannot name any kind of object (a typo), or None."""
    kinds = [kind for kind, _ in address.segments]
    below = KINDS.get(kinds[0])
    if below is None or len(kinds) > 2 or (len(kinds) == 2 and kinds[1] not in below):
        return (f"not an object address (they start with {', '.join(sorted(KINDS))}; "
                'e.g. ceph.pool["vm-pool"] or a kind such as ceph.osd)')
    return None


@dataclass(frozen=True)
class AddressPattern:
    """A set of addresses, for `ignore:` and `--prune KIND|ADDRESS`: an address whose keys
    may hold shell wildcards (`storage["local*"]`), a kind without a key for every object
    of that kind (`ceph.osd`), or `*` for everything. A pattern also covers what lies
    below what it names (`network["pve01"]` covers that node's interfaces)."""

    text: str
    address: Address | None  # None: `*`

    @classmethod
    def parse(cls, text: str) -> AddressPattern:
        """Raises ValueError naming the problem."""
        text = text.strip()
        if text == "*":
            return cls(text, None)
        address = Address.parse(text)
        problem = kind_problem(address)
        if problem is not None:
            raise ValueError(f"{text}: {problem}")
        return cls(text, address)

    def matches(self, address: Address) -> bool:
        if self.address is None:
            return True
        want = self.address.segments
        if len(address.segments) < len(want):
            return False
        for (kind, key), (have_kind, have_key) in zip(want, address.segments, strict=False):
            if kind != have_kind:
                return False
            if key is not None and (have_key is None or not fnmatchcase(str(have_key), str(key))):
                return False
        return True

    def __str__(self) -> str:
        return self.text
