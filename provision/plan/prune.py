"""Which unmanaged objects a plan deletes: `--prune` (everything), or only some kinds
and addresses (`--prune ceph.osd --prune 'storage["old"]'`).

Terraform deletes only what its state says it made; a Proxmox cluster is full of objects
nobody declared (the installer's `local`/`local-lvm`, a hand-made test bridge), so a
plain `--prune` is all or nothing. A scope lets one decommissioning step (an OSD taken
out of the stack) be planned without proposing to destroy everything else the stack
does not mention. Objects the stack's `ignore:` names are never pruned, whatever the scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provision.spec.addresses import Address, AddressPattern

EVERYTHING = "*"


@dataclass(frozen=True)
class Prune:
    """A prune scope; no patterns: nothing is pruned."""

    patterns: tuple[AddressPattern, ...] = ()

    @classmethod
    def of(cls, value: bool | Prune | Iterable[str | AddressPattern]) -> Prune:
        """From `--prune` as a flag (True: everything), a scope, or pattern texts.
        Raises ValueError for a text that names no kind of object."""
        if isinstance(value, Prune):
            return value
        if isinstance(value, bool):
            return cls((AddressPattern.parse(EVERYTHING),)) if value else cls()
        return cls(tuple(p if isinstance(p, AddressPattern) else AddressPattern.parse(p) for p in value))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Prune:
        """A plan document's `options` (`prune_scope`, or only `prune` in older files)."""
        scope = options.get("prune_scope")
        if scope is not None:
            return cls.of([str(p) for p in scope])
        return cls.of(bool(options.get("prune")))

    @property
    def enabled(self) -> bool:
        return bool(self.patterns)

    @property
    def everything(self) -> bool:
        return any(p.address is None for p in self.patterns)

    def covers(self, address: Address) -> bool:
        return any(p.matches(address) for p in self.patterns)

    def texts(self) -> list[str]:
        return [p.text for p in self.patterns]

    def describe(self) -> str:
        """For a reason line: how `--prune` was given."""
        return "--prune" if self.everything else "--prune " + " ".join(self.texts())


__all__ = ["EVERYTHING", "Prune"]
