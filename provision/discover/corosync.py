"""`/cluster/config/nodes`, `/cluster/config/totem`, `/cluster/config/qdevice`.

Everything in these answers is a raw token from corosync.conf, hence a string
(pve-facts 1.2). `ringN_addr` is the address of link N; the totem `interface`
object is keyed by link number and carries `knet_link_priority` only when a
priority was set at create time.

The QDevice is different: `/cluster/config/qdevice` is the answering node's
corosync-qdevice *daemon*, asked over its socket, and `{}` whenever that daemon does
not run (pve-cluster `src/PVE/API2/ClusterConfig.pm` `status`, 9: ~L692-738, 8:
~L682-728), whatever corosync.conf says. No API path returns corosync.conf's `quorum`
section, but `GET /nodes/{node}/report` (pve-manager `PVE/API2/Nodes.pm` ~L1998, 8:
~L1923; Sys.Audit) carries `cat /etc/pve/corosync.conf` (`PVE/Report.pm` ~L106), so an
empty daemon answer is settled by the configuration there: a stopped daemon is a note,
not a missing QDevice.
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


REPORT_COROSYNC = "# cat /etc/pve/corosync.conf 2>/dev/null"


def corosync_conf_from_report(report: str | None) -> str | None:
    """The corosync.conf text inside a node report, or None when the report has none.

    Report.pm prints each command as `# <command>` followed by its output; the next
    command or `==== section ====` header ends it (PVE writes no comments into
    corosync.conf, so no line of it starts with `# `)."""
    if not isinstance(report, str):
        return None
    lines = report.splitlines()
    try:
        start = lines.index(REPORT_COROSYNC) + 1
    except ValueError:
        return None
    out: list[str] = []
    for line in lines[start:]:
        if line.startswith("# ") or line.startswith("===="):
            break
        out.append(line)
    text = "\n".join(out).strip()
    return text + "\n" if text else None


def parse_sections(text: str) -> dict[str, Any]:
    """corosync.conf (`key: value` lines and `name {` ... `}` blocks) as nested dicts;
    a block name that repeats (`node`, `interface`) becomes a list."""
    root: dict[str, Any] = {}
    stack: list[dict[str, Any]] = [root]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.endswith("{"):
            child: dict[str, Any] = {}
            name = line[:-1].strip()
            here = stack[-1]
            if name in here:
                prev = here[name]
                here[name] = [*prev, child] if isinstance(prev, list) else [prev, child]
            else:
                here[name] = child
            stack.append(child)
        elif line == "}":
            if len(stack) > 1:
                stack.pop()
        elif ":" in line:
            key, value = line.split(":", 1)
            stack[-1][key.strip()] = value.strip()
    return root


def qdevice_from_conf(text: str) -> QDevice | None:
    """`quorum { device { model: net; net { host, algorithm, tie_breaker } } }` -> QDevice."""
    quorum = parse_sections(text).get("quorum")
    device = quorum.get("device") if isinstance(quorum, dict) else None
    if not isinstance(device, dict):
        return None
    net_section = device.get("net")
    net: dict[str, Any] = net_section if isinstance(net_section, dict) else {}
    tie = str(net.get("tie_breaker", "lowest"))
    return QDevice.model_validate({"host": str(net.get("host", "")), "algorithm": str(net.get("algorithm", "ffsplit")),
                                   "tie_breaker": int(tie) if tie.isdigit() else tie})


_TIE = re.compile(r"node with (lowest|highest) node id|node with id (\d+)", re.IGNORECASE)


def qdevice_from_status(data: dict[str, Any]) -> QDevice:
    """The daemon's status (keys with spaces) -> QDevice.

    `Algorithm` is printed as "Fifty-Fifty split" (ffsplit) or "LMS"; the qnetd
    host carries its port (`10.0.0.99:5403`), which the spec does not.
    """
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
    return QDevice.model_validate({"host": host, "algorithm": algorithm, "tie_breaker": tie})


def normalise_qdevice(status: dict[str, Any] | None, report: str | None, node: str | None
                      ) -> tuple[QDevice | None, str | None, list[str]]:
    """(QDevice, daemon state, notes) from the daemon's status on the answering node
    `node` and, when that is empty, from corosync.conf in `node`'s report.

    A running daemon states the configuration it runs; an empty answer only says the
    daemon does not run there, so the configuration then comes from corosync.conf and
    the daemon's state becomes a note."""
    if status:
        state = status.get("State")
        qdev = qdevice_from_status(status)
        notes = [] if state in (None, "Connected") else [
            f"QDevice: corosync-qdevice on {node or 'the answering node'} reports state {state!r} "
            f"(qnetd host {qdev.host})"]
        return qdev, str(state) if state is not None else None, notes
    text = corosync_conf_from_report(report)
    if text is None:
        if report is None:
            return None, None, ["QDevice: no corosync-qdevice answered and corosync.conf could not be read "
                                f"(GET /nodes/{node}/report): a configured QDevice whose daemon is down would "
                                "look absent"]
        return None, None, []
    configured = qdevice_from_conf(text)
    if configured is None:
        return None, None, []
    return configured, "not running", [
        f"QDevice: corosync.conf configures qnetd host {configured.host}, but corosync-qdevice is not running on "
        f"{node or 'the answering node'} (start it: systemctl start corosync-qdevice)"]
