"""Node network interfaces: physical NICs, bonds, bridges and VLANs.

The field set follows what Proxmox writes to /etc/network/interfaces (ifupdown2)
and returns from `/nodes/{node}/network`, so that a discovered node and a spec'd
node are the same model. Defaults are Proxmox's defaults (e.g. `miimon` 100,
`bridge-vids` 2-4094) so that omitting a key means "what Proxmox does".
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from provision.spec.base import (
    INT32_MAX,
    Int,
    IPv4Address,
    IPv4Interface,
    IPv6Address,
    IPv6Interface,
    SpecModel,
    Text,
    described,
)

BondMode = Literal[
    "balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"
]
XmitHashPolicy = Literal["layer2", "layer2+3", "layer3+4"]
IFACE_NAME = described(r"^[a-zA-Z][a-zA-Z0-9_.\-]{0,14}$",
                       "a valid interface name: 1 to 15 letters, digits, '-', '_' and '.', starting with a letter")
DEFAULT_MTU = 1500


class _Addressed(SpecModel):
    """Fields every interface kind shares: name, IP configuration, MTU, comment."""

    name: Text = Field(pattern=IFACE_NAME, description="Interface name as the kernel knows it (max 15 chars).")
    address: IPv4Interface | None = Field(
        default=None, description="IPv4 address in CIDR form, e.g. 10.10.10.11/24."
    )
    gateway: IPv4Address | None = Field(
        default=None, description="Default gateway reached through this interface (one per node)."
    )
    address6: IPv6Interface | None = Field(
        default=None, description="IPv6 address with prefix, e.g. fd00:10::11/64 (an `inet6 static` stanza)."
    )
    gateway6: IPv6Address | None = Field(
        default=None, description="IPv6 default gateway reached through this interface (one per node)."
    )
    mtu: Int | None = Field(
        default=None, ge=1280, le=65520, description="MTU; unset means the kernel default (1500)."
    )
    autostart: bool | None = Field(
        default=None,
        description="Bring the interface up at boot (`auto` line). Default as Proxmox writes it: yes for "
        "bonds, bridges, VLANs, bond slaves and NICs with an address; no for other NICs.",
    )
    comment: Text | None = Field(default=None, description="Free text written as the stanza comment.")
    managed: bool = Field(
        default=True,
        description="false: pve-provision never writes this interface's stanza (nor plans changes to it); "
        "list it only so that bonds, bridges and VLANs may name it. Interfaces a stack does not list are "
        "left alone too, unless `plan --prune`.",
    )

    @property
    def effective_mtu(self) -> int:
        """The MTU the kernel will use."""
        return self.mtu if self.mtu is not None else DEFAULT_MTU

    @model_validator(mode="after")
    def _gateway_in_subnet(self) -> _Addressed:
        if self.gateway is not None:
            if self.address is None:
                raise ValueError("a gateway needs an address on the same interface")
            if self.gateway not in self.address.network:
                raise ValueError(
                    f"gateway {self.gateway} is not inside {self.address.network} (the interface's subnet)"
                )
        if self.gateway6 is not None:
            if self.address6 is None:
                raise ValueError("a gateway6 needs an address6 on the same interface")
            if self.gateway6 not in self.address6.network and not self.gateway6.is_link_local:
                raise ValueError(
                    f"gateway6 {self.gateway6} is neither inside {self.address6.network} nor link-local (fe80::/10)"
                )
        return self


class Nic(_Addressed):
    """A physical network port. List it to configure it (address, MTU) or just to
    claim it as a bond slave or bridge port."""

    type: Literal["nic"] = Field(description="Interface kind.")


class Bond(_Addressed):
    """A Linux bond. Proxmox only recognises bonds named `bondN`."""

    type: Literal["bond"] = Field(description="Interface kind.")
    name: Text = Field(pattern=r"^bond\d+$", description="Bond name; Proxmox requires `bondN`.")
    slaves: list[Text] = Field(min_length=1, description="NICs enslaved to the bond.")
    mode: BondMode = Field(default="balance-rr", description="Bonding mode (Proxmox's default: balance-rr).")
    miimon: Int = Field(default=100, ge=0, le=INT32_MAX, description="Link monitoring interval in ms.")
    primary: Text | None = Field(default=None, description="Preferred slave (active-backup only).")
    xmit_hash_policy: XmitHashPolicy | None = Field(
        default=None, description="Transmit hash policy (balance-xor and 802.3ad only)."
    )
    lacp_rate: Literal["slow", "fast"] | None = Field(
        default=None, description="LACPDU rate for 802.3ad."
    )

    @field_validator("slaves")
    @classmethod
    def _unique_slaves(cls, value: list[str]) -> list[str]:
        dupes = sorted({s for s in value if value.count(s) > 1})
        if dupes:
            raise ValueError(f"slave listed twice: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _mode_options(self) -> Bond:
        if self.primary is not None:
            if self.mode != "active-backup":
                raise ValueError("'primary' only applies to mode active-backup")
            if self.primary not in self.slaves:
                raise ValueError(f"primary {self.primary!r} is not one of the slaves")
        if self.xmit_hash_policy is not None and self.mode not in ("balance-xor", "802.3ad"):
            raise ValueError("'xmit_hash_policy' only applies to modes balance-xor and 802.3ad")
        if self.lacp_rate is not None and self.mode != "802.3ad":
            raise ValueError("'lacp_rate' only applies to mode 802.3ad")
        return self


class Bridge(_Addressed):
    """A Linux bridge (`vmbrN`), the attachment point of guest NICs."""

    type: Literal["bridge"] = Field(description="Interface kind.")
    ports: list[Text] = Field(default_factory=list, description="Bridge ports (NICs, bonds, VLANs).")
    vlan_aware: bool = Field(default=False, description="VLAN-aware bridge (`bridge-vlan-aware yes`).")
    vids: Text = Field(
        default="2-4094",
        pattern=r"^\d+(-\d+)?( \d+(-\d+)?)*$",
        description="VLAN ids allowed on a VLAN-aware bridge (`bridge-vids`).",
    )
    stp: bool = Field(default=False, description="Spanning tree (Proxmox writes `bridge-stp off`).")
    forward_delay: Int = Field(default=0, ge=0, le=INT32_MAX, description="`bridge-fd` in seconds.")

    @field_validator("vids")
    @classmethod
    def _vid_ranges(cls, value: str) -> str:
        # pve-common JSONSchema.pm pve_verify_vlan_id_or_range: ids 2..4094, ranges low-high.
        for part in value.split():
            low, _, high = part.partition("-")
            for tag in (low, high) if high else (low,):
                if len(tag) > 4 or not 2 <= int(tag) <= 4094:
                    raise ValueError(f"VLAN id {tag} in {part!r} is outside 2-4094")
            if high and int(low) >= int(high):
                raise ValueError(f"VLAN range {part!r} must go from lower to higher id")
        return value


class Vlan(_Addressed):
    """An 802.1Q VLAN interface, either `parent.TAG` or a named one with an explicit
    raw device and tag."""

    type: Literal["vlan"] = Field(description="Interface kind.")
    raw_device: Text | None = Field(
        default=None, description="Parent interface; derived from a `parent.TAG` name if omitted."
    )
    tag: Int | None = Field(
        default=None, ge=1, le=4094, description="VLAN id; derived from a `parent.TAG` name if omitted."
    )

    @model_validator(mode="after")
    def _derive_parent_and_tag(self) -> Vlan:
        # PVE reads the tag from a `parent.TAG` or `vlanTAG` name (pve-common
        # Network/Interfaces.pm ~L401/L419); the kernel allows only ids 1-4094, and
        # `bond1.020` would be a second name for VLAN 20.
        named = re.fullmatch(r"(?:.+\.|vlan)(\d+)", self.name)
        if named:
            digits = named.group(1)
            if len(digits) > 1 and digits.startswith("0"):
                raise ValueError(f"VLAN id {digits!r} in the name has a leading zero; "
                                 f"write {self.name[:len(self.name) - len(digits)]}{int(digits)}")
            if not 1 <= int(digits) <= 4094:
                raise ValueError(f"VLAN id {int(digits)} in the name {self.name!r} is outside 1-4094")
        match = re.fullmatch(r"(.+)\.(\d+)", self.name)
        if named and not match and self.tag is not None and self.tag != int(named.group(1)):
            # PVE's reader takes the id from a `vlanN` name and its writer drops `vlan-id`
            # (pve-common Network/Interfaces.pm ~L419/~L957), while ifupdown2 honours vlan-id.
            raise ValueError(
                f"name says tag {int(named.group(1))} but tag is {self.tag} (Proxmox takes a vlanN interface's "
                f"tag from its name: rename it vlan{self.tag}, or drop 'tag')"
            )
        if match:
            parent, tag = match.group(1), int(match.group(2))
            if self.raw_device is not None and self.raw_device != parent:
                raise ValueError(f"name says parent {parent!r} but raw_device is {self.raw_device!r}")
            if self.tag is not None and self.tag != tag:
                raise ValueError(f"name says tag {tag} but tag is {self.tag}")
            self.raw_device, self.tag = parent, tag
        elif named:
            if self.raw_device is None:
                raise ValueError(f"a VLAN named {self.name} needs 'raw_device' (its parent interface)")
            self.tag = int(named.group(1))
        elif self.raw_device is None or self.tag is None:
            raise ValueError("a VLAN not named PARENT.TAG or vlanTAG needs both 'raw_device' and 'tag'")
        return self


Interface = Annotated[Nic | Bond | Bridge | Vlan, Field(discriminator="type")]


def interface_parents(iface: Nic | Bond | Bridge | Vlan) -> list[str]:
    """Interfaces this one is stacked on (for MTU and ordering checks)."""
    if isinstance(iface, Bond):
        return list(iface.slaves)
    if isinstance(iface, Bridge):
        return list(iface.ports)
    if isinstance(iface, Vlan):
        return [iface.raw_device] if iface.raw_device else []
    return []
