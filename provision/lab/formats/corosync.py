"""``/etc/pve/corosync.conf`` as PVE reads and rewrites it (pve-cluster ``Corosync.pm``).

PVE never edits corosync.conf in place: every ``pvecm create/add/delnode/qdevice`` parses the
file into nested hashes and dumps it again with its own writer, which sorts everything. The lab
does the same, so a client diffing the file after a lab operation sees what a real cluster
would show: keys and sections in alphabetical order, two-space indentation, ``key: value``, a
blank line after each top-level section only, ``node`` blocks ordered by node name and
``interface`` blocks by link number. Comments are not kept (PVE drops them too).

Two layers:

- ``parse``/``write``: the untyped tree (values are the raw string tokens, like PVE's parser
  keeps them; ``node`` and ``interface`` sections are lists of dicts because they repeat).
- ``ClusterConf``: a typed view for the lab's ``pvecm`` edits (create, add, delnode, qdevice)
  that keeps every key it does not model, so ``ClusterConf.from_dict(parse(t)).to_dict()``
  writes back what it read.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provision.lab.formats.errors import FormatError

__all__ = [
    "ARRAY_SECTIONS",
    "MAX_LINK_INDEX",
    "ClusterConf",
    "CorosyncError",
    "CorosyncNode",
    "QDevice",
    "parse",
    "write",
]

#: Sections that may repeat at one level; PVE's parser collects them into arrays.
ARRAY_SECTIONS = frozenset({"node", "interface"})
#: corosync (knet) supports links 0..7; PVE's ``--linkN`` options go up to link7.
MAX_LINK_INDEX = 7

_RING_ADDR_RE = re.compile(r"^ring(\d+)_addr$")


class CorosyncError(FormatError):
    """corosync.conf could not be parsed, or a ``pvecm``-style edit is refused."""


# --- untyped tree -------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    """Whitespace tokens with comments removed.

    PVE's parser flattens the whole file to one line of whitespace-separated tokens. Braces are
    split off here as well, so ``totem{`` or ``}}`` (hand edits) parse like PVE's own output.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        line = line.replace("{", " { ").replace("}", " } ")
        out.extend(line.split())
    return out


def parse(text: str) -> dict[str, Any]:
    """Parse corosync.conf into nested dicts of string values.

    ``node`` and ``interface`` sections are always lists (even with one entry); any other
    section is a dict and may not repeat (PVE dies on that too). Values stay raw strings because
    PVE's API hands them out unchanged (``/cluster/config/nodes`` returns ``"nodeid": "1"``).
    """
    tokens = _tokens(text)
    root: dict[str, Any] = {}
    stack: list[dict[str, Any]] = []
    section = root
    i = 0
    while i < len(tokens):
        token = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt == "{":
            if token in ("{", "}") or token.endswith(":"):
                raise CorosyncError(f"parse error - unexpected '{{' after '{token}'")
            child: dict[str, Any] = {}
            if token in ARRAY_SECTIONS:
                existing = section.setdefault(token, [])
                if not isinstance(existing, list):
                    raise CorosyncError(f"section '{token}' already exists and not marked as array!")
                existing.append(child)
            elif token not in section:
                section[token] = child
            else:
                raise CorosyncError(f"section '{token}' already exists and not marked as array!")
            stack.append(section)
            section = child
            i += 2
            continue
        if token == "}":
            if not stack:
                raise CorosyncError("parse error - unexpected '}'")
            section = stack.pop()
            i += 1
            continue
        if token == "{":
            raise CorosyncError("parse error - unexpected '{'")
        if not token.endswith(":"):
            raise CorosyncError(f"missing ':' after key '{token}'")
        key = token[:-1]
        if nxt is None or nxt in ("{", "}"):
            raise CorosyncError(f"parse error - no value for '{key}'")
        section[key] = nxt
        i += 2
    if stack:
        raise CorosyncError("parse error - missing '}'")
    return root


def _array_sort_key(name: str, entry: Mapping[str, Any]) -> str:
    """PVE keys ``node`` entries by name and ``interface`` entries by link number, then sorts
    those keys as strings; other arrays keep their order (key ``""`` for all = stable)."""
    if name == "node":
        return str(entry.get("name", entry.get("ring0_addr", "")))
    if name == "interface":
        return str(entry.get("linknumber", entry.get("ringnumber", "")))
    return ""


def _scalar(key: str, value: Any) -> str:
    if value is None:
        raise CorosyncError(f"got undefined value for key '{key}'!")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CorosyncError(f"unexpected value in config hash: {key} => {type(value).__name__}")
    text = str(value)
    if not text or any(c.isspace() for c in text):
        # a value with whitespace would not survive PVE's token parser
        raise CorosyncError(f"invalid value for key '{key}': {text!r}")
    return text


def _dump(section: Mapping[str, Any], prefix: str, out: list[str]) -> None:
    for key in sorted(section):
        value = section[key]
        if isinstance(value, Mapping):
            out.append(f"{prefix}{key} {{\n")
            _dump(value, prefix + "  ", out)
            out.append(f"{prefix}}}\n")
            if not prefix:
                out.append("\n")
        elif isinstance(value, list):
            entries = sorted(value, key=lambda e: _array_sort_key(key, e))
            for entry in entries:
                if not isinstance(entry, Mapping):
                    raise CorosyncError(f"unexpected list item in section '{key}'")
                out.append(f"{prefix}{key} {{\n")
                _dump(entry, prefix + "  ", out)
                out.append(f"{prefix}}}\n")
        else:
            out.append(f"{prefix}{key}: {_scalar(key, value)}\n")


def write(conf: Mapping[str, Any]) -> str:
    """Dump a tree the way PVE's ``write_conf`` does (see the module docstring).

    Values may be ``str`` or ``int``; sections are dicts, repeated sections lists of dicts.
    """
    out: list[str] = []
    _dump(conf, "", out)
    return "".join(out)


# --- typed view ---------------------------------------------------------------------------------


def _to_int(value: Any, what: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise CorosyncError(f"invalid {what} '{value}'") from None


@dataclass
class CorosyncNode:
    """One ``nodelist { node { ... } }`` entry.

    ``quorum_votes`` is ``None`` when the line is absent: PVE omits it when a node is added
    with ``--votes 0``, and corosync then counts the node with its default of one vote.
    """

    name: str
    nodeid: int
    quorum_votes: int | None = 1
    #: link number -> ``ring<N>_addr`` (IP or hostname)
    addrs: dict[int, str] = field(default_factory=dict)
    #: keys this view does not model, kept verbatim
    extra: dict[str, str] = field(default_factory=dict)
    #: False for legacy entries keyed by ``ring0_addr`` without a ``name`` line
    has_name_line: bool = True

    @property
    def votes(self) -> int:
        """The votes corosync counts for this node."""
        return 1 if self.quorum_votes is None else self.quorum_votes

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> CorosyncNode:
        addrs: dict[int, str] = {}
        extra: dict[str, str] = {}
        for key, value in entry.items():
            m = _RING_ADDR_RE.match(key)
            if m:
                addrs[int(m.group(1))] = str(value)
            elif key not in ("name", "nodeid", "quorum_votes"):
                extra[key] = str(value)
        name = entry.get("name", entry.get("ring0_addr"))
        if name is None:
            raise CorosyncError("node entry without 'name' and 'ring0_addr'")
        if "nodeid" not in entry:
            raise CorosyncError(f"node '{name}' has no nodeid")
        votes = entry.get("quorum_votes")
        return cls(
            name=str(name),
            nodeid=_to_int(entry["nodeid"], "nodeid"),
            quorum_votes=None if votes is None else _to_int(votes, "quorum_votes"),
            addrs=dict(sorted(addrs.items())),
            extra=extra,
            has_name_line="name" in entry,
        )

    def to_dict(self) -> dict[str, str]:
        out: dict[str, str] = dict(self.extra)
        if self.has_name_line:
            out["name"] = self.name
        out["nodeid"] = str(self.nodeid)
        if self.quorum_votes is not None:
            out["quorum_votes"] = str(self.quorum_votes)
        for link, addr in self.addrs.items():
            out[f"ring{link}_addr"] = addr
        return out

    def to_api(self) -> dict[str, str]:
        """``GET /cluster/config/nodes`` item: the raw entry plus ``node`` (all strings)."""
        return {"node": self.name, **self.to_dict()}


@dataclass
class QDevice:
    """``quorum { device { ... } }`` as ``pvecm qdevice setup`` writes it.

    ``votes`` is 1 for ``ffsplit`` and absent (``None``) for ``lms``, exactly as PVE writes it.
    """

    host: str
    algorithm: str = "ffsplit"
    votes: int | None = 1
    model: str = "net"
    tls: str = "on"
    extra_device: dict[str, Any] = field(default_factory=dict)
    extra_model: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, device: Mapping[str, Any]) -> QDevice:
        model = str(device.get("model", "net"))
        sub = device.get(model, {})
        if not isinstance(sub, Mapping):
            raise CorosyncError(f"quorum device section '{model}' is not a section")
        votes = device.get("votes")
        return cls(
            host=str(sub.get("host", "")),
            algorithm=str(sub.get("algorithm", "ffsplit")),
            votes=None if votes is None else _to_int(votes, "qdevice votes"),
            model=model,
            tls=str(sub.get("tls", "on")),
            extra_device={k: copy.deepcopy(v) for k, v in device.items() if k not in ("model", "votes", model)},
            extra_model={k: copy.deepcopy(v) for k, v in sub.items() if k not in ("host", "algorithm", "tls")},
        )

    def to_dict(self) -> dict[str, Any]:
        sub: dict[str, Any] = copy.deepcopy(self.extra_model)
        sub.update({"algorithm": self.algorithm, "host": self.host, "tls": self.tls})
        out: dict[str, Any] = copy.deepcopy(self.extra_device)
        out["model"] = self.model
        out[self.model] = sub
        if self.votes is not None:
            out["votes"] = str(self.votes)
        return out


def _default_skeleton() -> dict[str, Any]:
    """The sections ``pvecm create`` writes besides nodelist/totem specifics."""
    return {
        "logging": {"debug": "off", "to_syslog": "yes"},
        "quorum": {"provider": "corosync_votequorum"},
        "totem": {
            "ip_version": "ipv4-6",
            "link_mode": "passive",
            "version": "2",
        },
    }


@dataclass
class ClusterConf:
    """Typed view of corosync.conf for the lab's ``pvecm`` operations.

    Everything not modelled here (``logging``, ``ip_version``, ``link_mode``, crypto settings,
    legacy ``bindnetaddr``...) is kept in ``raw``/``link_extra``/``CorosyncNode.extra`` and
    written back unchanged. Each edit method bumps ``config_version`` once, as PVE's
    ``atomic_write_conf`` does for every change.
    """

    cluster_name: str
    config_version: int = 1
    nodes: list[CorosyncNode] = field(default_factory=list)
    #: link number -> ``knet_link_priority`` (``None`` = no priority line)
    links: dict[int, int | None] = field(default_factory=dict)
    token: int | None = None
    token_coefficient: int | None = None
    secauth: str | None = "on"
    qdevice: QDevice | None = None
    #: per link: other keys of its ``interface`` block, including the key that numbers it
    #: (``linknumber`` or legacy ``ringnumber``) when it was read from a file
    link_extra: dict[int, dict[str, str]] = field(default_factory=dict)
    #: the parsed tree minus what the typed fields above carry
    raw: dict[str, Any] = field(default_factory=_default_skeleton)

    # -- conversion ----------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, conf: Mapping[str, Any]) -> ClusterConf:
        """Build the view from ``parse()`` output (deep-copied; the input is not modified)."""
        raw: dict[str, Any] = copy.deepcopy(dict(conf))
        totem = raw.setdefault("totem", {})
        if not isinstance(totem, dict):
            raise CorosyncError("no totem section found")

        links: dict[int, int | None] = {}
        link_extra: dict[int, dict[str, str]] = {}
        for iface in totem.pop("interface", []):
            number = iface.get("linknumber", iface.get("ringnumber"))
            if number is None:
                raise CorosyncError("totem interface without linknumber or ringnumber")
            num = _to_int(number, "link number")
            prio = iface.get("knet_link_priority")
            links[num] = None if prio is None else _to_int(prio, "knet_link_priority")
            link_extra[num] = {k: str(v) for k, v in iface.items() if k != "knet_link_priority"}

        def pop_int(key: str) -> int | None:
            value = totem.pop(key, None)
            return None if value is None else _to_int(value, key)

        nodelist = raw.get("nodelist", {})
        entries = nodelist.pop("node", []) if isinstance(nodelist, dict) else []
        nodes = [CorosyncNode.from_dict(e) for e in entries]

        qdevice = None
        quorum = raw.get("quorum")
        if isinstance(quorum, dict) and "device" in quorum:
            qdevice = QDevice.from_dict(quorum.pop("device"))

        secauth = totem.pop("secauth", None)
        return cls(
            cluster_name=str(totem.pop("cluster_name", "")),
            config_version=pop_int("config_version") or 0,
            nodes=nodes,
            links=dict(sorted(links.items())),
            token=pop_int("token"),
            token_coefficient=pop_int("token_coefficient"),
            secauth=None if secauth is None else str(secauth),
            qdevice=qdevice,
            link_extra=link_extra,
            raw=raw,
        )

    @classmethod
    def from_text(cls, text: str) -> ClusterConf:
        return cls.from_dict(parse(text))

    def to_dict(self) -> dict[str, Any]:
        """The tree for ``write()``; unmodelled keys come back from ``raw``."""
        out: dict[str, Any] = copy.deepcopy(self.raw)
        totem: dict[str, Any] = out.setdefault("totem", {})
        totem["cluster_name"] = self.cluster_name
        totem["config_version"] = str(self.config_version)
        for key, value in (("token", self.token), ("token_coefficient", self.token_coefficient)):
            if value is not None:
                totem[key] = str(value)
        if self.secauth is not None:
            totem["secauth"] = self.secauth
        interfaces: list[dict[str, str]] = []
        for num, prio in sorted(self.links.items()):
            entry = dict(self.link_extra.get(num, {}))
            if "ringnumber" in entry and "linknumber" not in entry:
                entry["ringnumber"] = str(num)
            else:
                entry["linknumber"] = str(num)
            if prio is not None:
                entry["knet_link_priority"] = str(prio)
            interfaces.append(entry)
        if interfaces:
            totem["interface"] = interfaces
        nodelist: dict[str, Any] = out.setdefault("nodelist", {})
        nodelist["node"] = [n.to_dict() for n in self.nodes]
        if self.qdevice is not None:
            out.setdefault("quorum", {})["device"] = self.qdevice.to_dict()
        return out

    def to_text(self) -> str:
        return write(self.to_dict())

    # -- queries -------------------------------------------------------------------------------

    def node(self, name: str) -> CorosyncNode | None:
        return next((n for n in self.nodes if n.name == name), None)

    def find_node(self, name_or_addr: str) -> CorosyncNode | None:
        """Find a node by name or by its ring0/ring1 address, as ``pvecm delnode`` does."""
        for n in self.nodes:
            if name_or_addr in (n.name, n.addrs.get(0), n.addrs.get(1)):
                return n
        return None

    @property
    def total_votes(self) -> int:
        """Votes of all nodes (expected votes without a QDevice)."""
        return sum(n.votes for n in self.nodes)

    def cluster_links(self) -> set[int]:
        """Link numbers in use by the nodes (PVE's join check looks at a node, not totem)."""
        return set(self.nodes[0].addrs) if self.nodes else set(self.links)

    def totem_api(self) -> dict[str, Any]:
        """``GET /cluster/config/totem``: raw strings; ``interface`` keyed by link number."""
        totem = dict(self.to_dict()["totem"])
        ifaces = totem.pop("interface", [])
        totem["interface"] = {
            str(i.get("linknumber", i.get("ringnumber"))): dict(i) for i in ifaces
        }
        return totem

    # -- edits (each one is a config change: config_version + 1) --------------------------------

    @classmethod
    def create(
        cls,
        cluster_name: str,
        nodename: str,
        links: Mapping[int, str | tuple[str, int | None]],
        *,
        nodeid: int = 1,
        votes: int = 1,
        token_coefficient: int | None = None,
    ) -> ClusterConf:
        """``pvecm create``: one node, the given links, ``config_version: 1``.

        ``links`` maps link number to an address or ``(address, priority)``. A priority is
        written as ``knet_link_priority`` only when it is non-zero, like PVE does.
        """
        if not links:
            raise CorosyncError("no links given - pass at least link0 (the node's IP)")
        conf = cls(cluster_name=cluster_name, config_version=1, token_coefficient=token_coefficient)
        node = CorosyncNode(name=nodename, nodeid=nodeid or 1, quorum_votes=votes or 1)
        for num, spec in sorted(links.items()):
            _check_link_number(num)
            addr, prio = (spec, None) if isinstance(spec, str) else spec
            conf.links[num] = prio if prio else None
            node.addrs[num] = addr
        conf.nodes.append(node)
        return conf

    def add_node(
        self,
        name: str,
        links: Mapping[int, str],
        *,
        nodeid: int | None = None,
        votes: int | None = None,
        force: bool = False,
    ) -> CorosyncNode:
        """``pvecm addnode`` (what ``pvecm add`` asks the cluster to do), with PVE's checks.

        The new node must give exactly the cluster's links, no address may be in use by another
        node, and the node id defaults to the lowest free id from 1. Priorities are ignored on
        add (PVE only honours them at create).
        """
        for num, addr in links.items():
            _check_link_number(num)
            for other in self.nodes:
                if other.name == name:
                    continue
                for onum, oaddr in sorted(other.addrs.items()):
                    if oaddr == addr:
                        raise CorosyncError(
                            f"corosync: address '{addr}' already used on link ring{onum}_addr "
                            f"by node '{other.name}'"
                        )
        have = self.cluster_links()
        for num in range(MAX_LINK_INDEX + 1):
            if num in have and num not in links:
                raise CorosyncError(
                    f"corosync: link {num} exists in cluster config but wasn't specified for new node"
                )
            if num not in have and num in links:
                raise CorosyncError(
                    f"corosync: link {num} specified for new node doesn't exist in cluster config"
                )
        existing = self.node(name)
        if existing is not None:
            want_id = nodeid or existing.nodeid
            want_votes = existing.votes if votes is None else votes
            if not (force and want_id == existing.nodeid and want_votes == existing.votes):
                raise CorosyncError(f"can't add existing node '{name}'")
            self.nodes.remove(existing)
            nodeid, votes = want_id, want_votes
        if not nodeid:
            used = {n.nodeid for n in self.nodes}
            nodeid = 1
            while nodeid in used:
                nodeid += 1
        if votes is None:
            votes = 1
        node = CorosyncNode(
            name=name,
            nodeid=nodeid,
            quorum_votes=votes if votes else None,
            addrs=dict(sorted(links.items())),
        )
        self.nodes.append(node)
        self.config_version += 1
        return node

    def remove_node(self, name_or_addr: str) -> CorosyncNode:
        """``pvecm delnode <node|ring0/ring1 addr>``: drop the node, bump the version."""
        node = self.find_node(name_or_addr)
        if node is None:
            raise CorosyncError(f"Node/IP: {name_or_addr} is not a known host of the cluster.")
        self.nodes.remove(node)
        self.config_version += 1
        return node

    def setup_qdevice(self, host: str, *, force: bool = False) -> QDevice:
        """``pvecm qdevice setup``: ``ffsplit`` (+1 vote) for even clusters, ``lms`` with force."""
        if self.qdevice is not None:
            raise CorosyncError("QDevice already configured!")
        algorithm = "ffsplit"
        if len(self.nodes) % 2:
            if not force:
                raise CorosyncError("Clusters with an odd node count are not officially supported!")
            algorithm = "lms"
        self.qdevice = QDevice(host=host, algorithm=algorithm, votes=1 if algorithm == "ffsplit" else None)
        self.config_version += 1
        return self.qdevice

    def remove_qdevice(self) -> None:
        """``pvecm qdevice remove``."""
        if self.qdevice is None:
            raise CorosyncError("No QDevice configured!")
        self.qdevice = None
        self.config_version += 1


def _check_link_number(num: int) -> None:
    if not 0 <= num <= MAX_LINK_INDEX:
        raise CorosyncError(f"invalid link number {num} (allowed: 0..{MAX_LINK_INDEX})")
