"""`/cluster/config/nodes`, `/cluster/config/totem`, `/cluster/config/qdevice`.

Everything in these answers is a raw token from corosync.conf, hence a string
(pve-facts 1.2). `ringN_addr` is the address of link N; the totem `interface`
object is keyed by link number and carries `knet_link_priority` only when a
priority was set at create time.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from provision.discover._values import as_int
from provision.spec.corosync import Corosync, CorosyncLink, QDevice

_RING = re.compile(r"^ring(\d)_addr$")

# corosync's own defaults for a knet cluster with `secauth: on` (PVE writes neither
# crypto key): aes256 / sha256.
DEFAULT_CIPHER = "aes256"
DEFAULT_HASH = "sha256"


@dataclass(frozen=True)
class CoroNode:
    name: str
    nodeid: int
    votes: int
    links: dict[int, str]


def normalise_nodes(data: list[dict[str, Any]]) -> list[CoroNode]:
    """Nodelist entries (hash order upstream) -> sorted by name."""
    out: list[CoroNode] = []
    for item in data:
        name = str(item.get("name") or item.get("node") or item.get("ring0_addr"))
        links: dict[int, str] = {}
        for key, value in item.items():
            match = _RING.match(key)
            if match and value:
                links[int(match.group(1))] = str(value)
        out.append(
            CoroNode(
                name=name,
                nodeid=as_int(item.get("nodeid"), 0) or 0,
                # a missing quorum_votes means 1 (votequorum's default)
                votes=as_int(item.get("quorum_votes"), 1) or 0,
                links=dict(sorted(links.items())),
            )
        )
    return sorted(out, key=lambda n: n.name)


def _link_network(address: str, networks: dict[str, list[ipaddress.IPv4Interface]], node: str) -> ipaddress.IPv4Network:
    """The subnet a link address lives in, from the node's interface addresses.

    corosync.conf does not record networks; the spec does. If no interface holds
    the address (node offline, address is a hostname) the /32 keeps the model
    valid; diff never compares link networks, only addresses.
    """
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return ipaddress.IPv4Network("0.0.0.0/32")
    for iface in networks.get(node, []):
        if iface.ip == ip:
            return iface.network
    return ipaddress.IPv4Network(f"{ip}/32")


def normalise_corosync(
    nodes: list[CoroNode],
    totem: dict[str, Any],
    node_addresses: dict[str, list[ipaddress.IPv4Interface]],
) -> Corosync:
    """Links with per-node addresses and priorities, plus totem settings."""
    interfaces: dict[str, Any] = {}
    raw_ifaces: Any = totem.get("interface") or {}
    interfaces = raw_ifaces if isinstance(raw_ifaces, dict) else {}
    if isinstance(raw_ifaces, list):  # tolerate a list form
        interfaces = {str(i.get("linknumber", i.get("ringnumber", n))): i for n, i in enumerate(raw_ifaces)}
    numbers: set[int] = set()
    for key, entry in interfaces.items():
        num = as_int(entry.get("linknumber"), as_int(entry.get("ringnumber"), as_int(key)))
        if num is not None:
            numbers.add(num)
    for node in nodes:
        numbers.update(node.links)
    links: list[CorosyncLink] = []
    for num in sorted(numbers):
        iface: dict[str, Any] = next(
            (i for k, i in interfaces.items()
             if as_int(i.get("linknumber"), as_int(i.get("ringnumber"), as_int(k))) == num),
            {},
        )
        addresses = {n.name: n.links[num] for n in nodes if num in n.links}
        first = next(iter(addresses.items()), None)
        network = (
            _link_network(first[1], node_addresses, first[0]) if first else ipaddress.IPv4Network("0.0.0.0/32")
        )
        clean: dict[str, ipaddress.IPv4Address] = {}
        for name, addr in addresses.items():
            try:
                clean[name] = ipaddress.IPv4Address(addr)
            except ValueError:
                continue  # hostname ring addresses are not modelled
        links.append(
            CorosyncLink(
                number=num,
                network=network,
                # knet_link_priority is written only when set; absent = no priority (None)
                priority=as_int(iface.get("knet_link_priority")),
                addresses=dict(sorted(clean.items())),
            )
        )
    return Corosync(
        links=links,
        transport="knet",
        crypto_cipher=str(totem.get("crypto_cipher") or DEFAULT_CIPHER),
        crypto_hash=str(totem.get("crypto_hash") or DEFAULT_HASH),
        token=as_int(totem.get("token")),
        token_coefficient=as_int(totem.get("token_coefficient")),
    )


_TIE = re.compile(r"node with (lowest|highest) node id|node with id (\d+)", re.IGNORECASE)


def normalise_qdevice(data: dict[str, Any] | None) -> tuple[QDevice | None, str | None]:
    """Qdevice daemon status (keys with spaces) -> (QDevice, state) or (None, None).

    `Algorithm` is printed as "Fifty-Fifty split" (ffsplit) or "LMS"; the qnetd
    host carries its port (`10.0.0.99:5403`), which the spec does not.
    """
    if not data:
        return None, None
    algo_text = str(data.get("Algorithm", "")).lower()
    algorithm = "lms" if "lms" in algo_text or "last man" in algo_text else "ffsplit"
    host = str(data.get("QNetd host", "")).strip()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    tie: str | int = "lowest"  # corosync-qdevice's default tie_breaker
    match = _TIE.search(str(data.get("Tie-breaker", "")))
    if match:
        tie = match.group(1).lower() if match.group(1) else int(match.group(2))
    qdev = QDevice.model_validate({"host": host, "algorithm": algorithm, "tie_breaker": tie})
    state = data.get("State")
    return qdev, str(state) if state is not None else None
