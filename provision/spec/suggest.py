""""Did you mean ...?" for a value outside a closed set (an enum or a `type:` tag).

Close spellings are found by similarity, but the wrong values people really type are
often not close at all: `lacp` is what Linux calls `802.3ad`, `active-passive` is
`active-backup`, `ceph` as a storage type is `rbd`. Those come from the names other
tools and the Proxmox GUI use for the same thing, so they are listed here, by what the
stack spells instead; a hint names one only when it is among the allowed values.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

ALIASES: dict[str, str] = {
    # bond modes (Linux bonding names; the GUI says "LACP (802.3ad)")
    "lacp": "802.3ad", "802.3ad-lacp": "802.3ad", "8023ad": "802.3ad", "mode4": "802.3ad",
    "active-passive": "active-backup", "failover": "active-backup", "activebackup": "active-backup",
    "round-robin": "balance-rr", "roundrobin": "balance-rr", "rr": "balance-rr",
    "xor": "balance-xor", "tlb": "balance-tlb", "alb": "balance-alb",
    # storage types (pvesm's names)
    "ceph": "rbd", "ceph-rbd": "rbd", "zfs": "zfspool", "lvm-thin": "lvmthin", "lvm_thin": "lvmthin",
    "directory": "dir", "proxmox-backup": "pbs", "cifs/smb": "cifs", "smb": "cifs",
    # HA resource states
    "running": "started", "enabled": "started", "start": "started", "stop": "stopped", "off": "stopped",
    # Ceph device classes and autoscale mode
    "hdd-ssd": "ssd", "flash": "ssd", "true": "on", "false": "off",
    # HA affinity
    "together": "positive", "apart": "negative", "separate": "negative",
}


def suggestion(given: object, allowed: Sequence[str]) -> str | None:
    """The allowed value `given` most likely meant, or None."""
    text = str(given).strip()
    lowered = {a.lower(): a for a in allowed}
    if text.lower() in lowered and lowered[text.lower()] != text:
        return lowered[text.lower()]
    alias = ALIASES.get(text.lower())
    if alias is not None and alias in allowed:
        return alias
    close = difflib.get_close_matches(text.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def hint(given: object, allowed: Sequence[str]) -> str:
    """`did you mean 'x'?` when there is a likely value, else the allowed values."""
    best = suggestion(given, allowed)
    if best is not None:
        return f"did you mean {best!r}?"
    return "allowed: " + ", ".join(allowed)


__all__ = ["ALIASES", "hint", "suggestion"]
