"""Plain section-config text: `/etc/pve/jobs.cfg` and `/etc/pve/notifications.cfg` (and its `priv/` twin), as the
`proxmox-notify` crate reads and writes them (proxmox-rs `proxmox-notify/src/config.rs`,
through `proxmox-section-config`): `type: name` headers, one `key value` line per
property indented by a tab, array properties as one line per item, a blank line between
sections. Private sections hold only the secrets of the public section of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARRAYS = frozenset({"mailto", "mailto-user", "match-field", "match-severity", "match-calendar", "target", "header",
                    "secret"})


@dataclass
class NotifySection:
    type: str
    name: str
    props: dict[str, str | list[str]] = field(default_factory=dict)


def parse(text: str | None) -> list[NotifySection]:
    out: list[NotifySection] = []
    current: NotifySection | None = None
    for raw in (text or "").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not raw[0].isspace():
            kind, _, name = raw.partition(":")
            current = NotifySection(kind.strip(), name.strip())
            out.append(current)
            continue
        if current is None:
            continue
        key, _, value = raw.strip().partition(" ")
        value = value.strip()
        if key in ARRAYS:
            have = current.props.setdefault(key, [])
            assert isinstance(have, list)
            have.append(value)
        else:
            current.props[key] = value
    return out


def write(sections: list[NotifySection]) -> str:
    chunks: list[str] = []
    for s in sections:
        lines = [f"{s.type}: {s.name}"]
        for key, value in s.props.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"\t{key} {item}")
        chunks.append("\n".join(lines) + "\n")
    return "\n".join(chunks)
