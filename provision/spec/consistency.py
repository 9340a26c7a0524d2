"""Cross-checks that one field cannot express alone: unique names, resolvable
references, addresses inside their networks, version-specific HA features.

These are *errors* (the spec is wrong); best-practice advice lives in
`provision.rules`. Each issue carries the data path (`loc`) of the offending
value so the loader can point at FILE:LINE:COL.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from provision.spec.ceph import CEPH_RELEASES
from provision.spec.checks_alerts import check_alerts_and_backups
from provision.spec.cluster import Cluster
from provision.spec.ha import HaGroup, NodeAffinityRule
from provision.spec.hapolicy import PVE9_CRS_MODES
from provision.spec.network import Bond, Bridge, Nic, Vlan, interface_parents
from provision.spec.secrets import SecretRef, own_credential
from provision.spec.storage import CephFsStorage, RbdStorage

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class SpecIssue:
    """One cross-check failure."""

    loc: Loc
    message: str
    hint: str | None = None


def _dupes(values: Iterable[object]) -> set[object]:
    return {v for v, n in Counter(values).items() if n > 1}


class _Checker:
    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster
        self.issues: list[SpecIssue] = []
        self.nodes = set(cluster.node_names)

    def add(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.issues.append(SpecIssue(loc, message, hint))

    def unknown_node(self, loc: Loc, name: str, what: str) -> None:
        import difflib

        close = difflib.get_close_matches(name, sorted(self.nodes), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known nodes: {', '.join(sorted(self.nodes))}"
        self.add(loc, f"{what} names unknown node {name!r}", hint)

    def unique(self, items: Sequence[object], key: str, where: Loc, what: str) -> None:
        """Report the second occurrence of each repeated value (one pass: stacks can be long)."""
        seen: set[object] = set()
        reported: set[object] = set()
        for idx, item in enumerate(items):
            value = getattr(item, key)
            if value in seen and value not in reported:
                reported.add(value)
                self.add((*where, idx, key), f"duplicate {what} {value}", f"each {what} must be unique")
            seen.add(value)

    # -- nodes and network ----------------------------------------------------
    def nodes_and_network(self) -> None:
        c = self.c
        self.unique(c.nodes, "name", ("nodes",), "node name")
        self.unique(c.nodes, "nodeid", ("nodes",), "nodeid")
        self.unique(c.nodes, "address", ("nodes",), "management address")
        seen_ips: dict[ipaddress.IPv4Address, tuple[int, int]] = {}
        if c.nodes and c.total_votes == 0:
            self.add(("nodes", 0, "votes"), "no node has a vote: the cluster can never be quorate",
                     "give at least one node (usually every node) votes: 1")
        for ni, node in enumerate(c.nodes):
            base: Loc = ("nodes", ni, "interfaces")
            self.unique(node.interfaces, "name", base, f"interface name on {node.name}:")
            names = {i.name: i for i in node.interfaces}
            # Bond membership first, so a NIC that is also a bridge port is caught
            # whichever of the two is listed first.
            owner = {s: i.name for i in reversed(node.interfaces) if isinstance(i, Bond) for s in i.slaves}
            vlans: dict[tuple[str | None, int | None], str] = {}
            enslaved: dict[str, str] = {}
            gateways = [ii for ii, i in enumerate(node.interfaces) if i.gateway is not None]
            for extra in gateways[1:]:
                self.add((*base, extra, "gateway"), f"{node.name} has more than one default gateway",
                         "keep one gateway per node")
            for ii, iface in enumerate(node.interfaces):
                if iface.address is not None:
                    ip = iface.address.ip
                    if ip in seen_ips:
                        other = c.nodes[seen_ips[ip][0]]
                        self.add((*base, ii, "address"), f"address {ip} is also used on {other.name}")
                    seen_ips[ip] = (ni, ii)
                if isinstance(iface, Bond):
                    for si, slave in enumerate(iface.slaves):
                        target = names.get(slave)
                        if target is None:
                            self.add((*base, ii, "slaves", si), f"bond {iface.name} slave {slave!r} is not a "
                                     f"declared interface of {node.name}", f"add {{name: {slave}, type: nic}}")
                        elif not isinstance(target, Nic):
                            self.add((*base, ii, "slaves", si), f"bond slave {slave!r} must be a NIC")
                        elif target.address is not None:
                            self.add((*base, ii, "slaves", si), f"bond slave {slave!r} carries an address",
                                     "put the address on the bond")
                        if slave in enslaved:
                            self.add((*base, ii, "slaves", si),
                                     f"{slave} is already a slave of {enslaved[slave]}",
                                     "a NIC can belong to one bond only")
                        enslaved.setdefault(slave, iface.name)
                elif isinstance(iface, Bridge):
                    for pi, port in enumerate(iface.ports):
                        target = names.get(port)
                        if target is None:
                            self.add((*base, ii, "ports", pi), f"bridge {iface.name} port {port!r} is not a "
                                     f"declared interface of {node.name}")
                        elif target.address is not None:
                            self.add((*base, ii, "ports", pi), f"bridge port {port!r} carries an address",
                                     "put the address on the bridge")
                        if port in owner:
                            self.add((*base, ii, "ports", pi), f"{port} is a slave of {owner[port]}",
                                     f"use {owner[port]} as the bridge port")
                elif isinstance(iface, Vlan):
                    if iface.raw_device not in names:
                        self.add((*base, ii, "name"), f"VLAN {iface.name} sits on {iface.raw_device!r}, "
                                 f"which is not a declared interface of {node.name}")
                    key = (iface.raw_device, iface.tag)
                    if key in vlans:
                        self.add((*base, ii, "name"), f"VLAN {iface.tag} on {iface.raw_device} is declared "
                                 f"twice ({vlans[key]} and {iface.name})", "keep one interface per VLAN")
                    vlans.setdefault(key, iface.name)
            for ii, iface in enumerate(node.interfaces):
                if isinstance(iface, Bond):
                    continue  # the kernel gives slaves the bond's MTU
                for parent in interface_parents(iface):
                    p = names.get(parent)
                    if p is not None and iface.mtu is not None and iface.effective_mtu > p.effective_mtu:
                        self.add((*base, ii, "mtu"), f"MTU {iface.effective_mtu} of {iface.name} exceeds "
                                 f"MTU {p.effective_mtu} of its parent {parent}", f"raise the MTU of {parent}")

    # -- corosync -------------------------------------------------------------
    def corosync(self) -> None:
        c = self.c
        self.unique(c.corosync.links, "number", ("corosync", "links"), "link number")
        for li, link in enumerate(c.corosync.links):
            base: Loc = ("corosync", "links", li)
            for name, addr in link.addresses.items():
                if name not in self.nodes:
                    self.unknown_node((*base, "addresses", name), name, f"link {link.number}")
                elif addr not in link.network:
                    self.add((*base, "addresses", name), f"link {link.number} address {addr} of {name} is "
                             f"outside the link network {link.network}")
            for dupe in _dupes(link.addresses.values()):
                self.add((*base, "addresses"), f"link {link.number} address {dupe} is used by two nodes")
            for node in c.nodes:
                if node.name not in link.addresses:
                    self.add((*base, "network"), f"{node.name} has no address in {link.network} for "
                             f"corosync link {link.number}",
                             f"add an interface address in {link.network} or set addresses.{node.name}")

    # -- ceph -----------------------------------------------------------------
    def ceph(self) -> None:
        ceph = self.c.ceph
        if ceph is None:
            return
        if ceph.release is not None and ceph.release not in CEPH_RELEASES[self.c.pve_version]:
            self.add(("ceph", "release"), f"Ceph {ceph.release} is not offered for PVE {self.c.pve_version}",
                     f"use one of {', '.join(CEPH_RELEASES[self.c.pve_version])}")
        for field in ("mons", "mgrs", "mdss"):
            values: list[str] = getattr(ceph, field)
            for i, name in enumerate(values):
                if name not in self.nodes:
                    self.unknown_node(("ceph", field, i), name, f"ceph.{field}")
            for dupe in _dupes(values):
                self.add(("ceph", field), f"{dupe} is listed twice in ceph.{field}")
        for i, mon in enumerate(ceph.mons):
            node = self.c.node(mon)
            if node is not None and not any(
                x.address is not None and x.address.ip in ceph.public_network for x in node.interfaces
            ):
                self.add(("ceph", "mons", i), f"monitor node {mon} has no address in the Ceph public "
                         f"network {ceph.public_network}", "add an interface address in that network")
        for i, osd in enumerate(ceph.osds):
            if osd.node not in self.nodes:
                self.unknown_node(("ceph", "osds", i, "node"), osd.node, "OSD")
        keys = [o.key for o in ceph.osds]
        for dupe in _dupes(keys):
            idx = [i for i, k in enumerate(keys) if k == dupe][1]
            self.add(("ceph", "osds", idx, "device"), f"OSD {dupe} is declared twice")
        self.unique(ceph.pools, "name", ("ceph", "pools"), "pool name")
        self.unique(ceph.filesystems, "name", ("ceph", "filesystems"), "file system name")

    # -- storage --------------------------------------------------------------
    def storage(self) -> None:
        c = self.c
        self.unique(c.storage, "name", ("storage",), "storage id")
        pools = {p.name for p in c.ceph.pools} if c.ceph else set()
        filesystems = {f.name for f in c.ceph.filesystems} if c.ceph else set()
        for si, st in enumerate(c.storage):
            for ni, name in enumerate(st.nodes or []):
                if name not in self.nodes:
                    self.unknown_node(("storage", si, "nodes", ni), name, f"storage {st.name}")
            if isinstance(st, RbdStorage) and st.monhost is None:
                if c.ceph is None:
                    self.add(("storage", si, "pool"), f"RBD storage {st.name} uses the cluster's own Ceph, "
                             "but no ceph section is declared", "declare ceph, or set monhost for an external one")
                elif st.pool not in pools:
                    self.add(("storage", si, "pool"), f"RBD storage {st.name} names unknown pool {st.pool!r}",
                             f"declared pools: {', '.join(sorted(pools)) or 'none'}")
            if isinstance(st, CephFsStorage) and st.monhost is None and st.fs_name not in filesystems:
                self.add(("storage", si, "fs_name"), f"CephFS storage {st.name} names unknown file "
                         f"system {st.fs_name!r}", "declare it under ceph.filesystems")

    # -- secrets --------------------------------------------------------------
    def secrets(self) -> None:
        """Storage secrets travel to other servers (PBS, CIFS, external Ceph): they must
        never name pve-provision's own credentials, or apply would hand them over."""
        for si, st in enumerate(self.c.storage):
            for field in type(st).model_fields:
                ref = getattr(st, field)
                if isinstance(ref, SecretRef):
                    self.foreign_secret(("storage", si, field), ref, f"{st.name} {field}")

    def foreign_secret(self, where: Loc, ref: SecretRef, what: str, kind: str = "storage") -> None:
        """A secret pve-provision hands to another server must not be one of its own
        credentials (a variable of its own, the API token)."""
        api = self.c.connection.api if self.c.connection is not None else None
        own = [(api.token, "the cluster's API token")] if api is not None else []
        if api is not None:
            own += [(b.token, f"the bootstrap API token of {node}") for node, b in api.bootstrap.items()]
        loc: Loc = (*where, "env" if ref.env is not None else "file")
        if ref.env is not None and own_credential(ref.env):
            self.add(loc, f"{ref.env} is one of pve-provision's own variables, not a {kind} secret",
                     "use a variable of its own, e.g. PBS_PASSWORD")
        elif (owner := next((w for t, w in own if t == ref), None)) is not None:
            self.add(loc, f"{what} is {owner} ({ref.describe()})",
                     f"the API token must never be sent to a {kind} server")

    def bootstrap(self) -> None:
        """`connection.api.bootstrap` names stack nodes, each with a token of its own: PVE
        makes every token's secret on the node where it is created, so one reference
        cannot hold two nodes' tokens."""
        api = self.c.connection.api if self.c.connection is not None else None
        if api is None:
            return
        seen = [(api.token, "the cluster's `connection.api.token`")]
        for node, entry in api.bootstrap.items():
            loc: Loc = ("connection", "api", "bootstrap", node)
            if node not in self.nodes:
                self.unknown_node(loc, node, "connection.api.bootstrap")
            other = next((w for t, w in seen if t == entry.token), None)
            if other is not None:
                self.add((*loc, "token"), f"the bootstrap token of {node} is also {other} "
                         f"({entry.token.describe()})", f"use the token made on {node} itself")
            seen.append((entry.token, f"the bootstrap token of {node}"))

    # -- HA -------------------------------------------------------------------
    def ha(self) -> None:
        c = self.c
        ha = c.ha
        if c.pve_version == 9:
            for gi, _group in enumerate(ha.groups):
                self.add(("ha", "groups", gi), "HA groups do not exist on PVE 9",
                         "PVE 9 migrated groups to node-affinity rules: write a rule "
                         "{type: node-affinity, name: ha-group-<name>, nodes, strict: <restricted>, resources}")
            for ri, res in enumerate(ha.resources):
                if res.group is not None:
                    self.add(("ha", "resources", ri, "group"), "resource 'group' does not exist on PVE 9",
                             "list the resource in a node-affinity rule instead")
        else:
            for ri, _rule in enumerate(ha.rules):
                self.add(("ha", "rules", ri), "HA rules need PVE 9",
                         "on PVE 8 use ha.groups and the resource's 'group'")
            for ri, res in enumerate(ha.resources):
                if "failback" in res.model_fields_set:
                    self.add(("ha", "resources", ri, "failback"), "'failback' is a PVE 9 resource option",
                             "on PVE 8 set nofailback on the HA group")
        self.unique(ha.groups, "name", ("ha", "groups"), "HA group")
        self.unique(ha.rules, "name", ("ha", "rules"), "HA rule")
        self.unique(ha.resources, "sid", ("ha", "resources"), "HA resource")
        groups = {g.name for g in ha.groups}
        sids = {r.sid for r in ha.resources}
        for gi, group in enumerate(ha.groups):
            self._priority_nodes(("ha", "groups", gi), group)
        # a resource in two enabled node-affinity rules is one of PVE's feasibility checks
        # (rules PVE-HA005..009, PVE-HA030 quote them), not a matter of the stack's syntax
        for ri, rule in enumerate(ha.rules):
            if isinstance(rule, NodeAffinityRule):
                self._priority_nodes(("ha", "rules", ri), rule)
            for k, sid in enumerate(rule.resources):
                if sid not in sids:
                    self.add(("ha", "rules", ri, "resources", k), f"rule {rule.name} names {sid}, which is "
                             "not an HA resource", f"add {sid} to ha.resources")
        guests = {g.sid for g in c.guests}
        for ri, res in enumerate(ha.resources):
            if res.group is not None and res.group not in groups:
                self.add(("ha", "resources", ri, "group"), f"{res.sid} names unknown HA group {res.group!r}",
                         f"declared groups: {', '.join(sorted(groups)) or 'none'}")
            if c.guests and res.sid not in guests:
                self.add(("ha", "resources", ri, "sid"), f"{res.sid} is not a declared guest",
                         "add it to guests, or fix the id")
        self.unique(c.guests, "sid", ("guests",), "guest")
        for gi, guest in enumerate(c.guests):
            if guest.node not in self.nodes:
                self.unknown_node(("guests", gi, "node"), guest.node, f"guest {guest.sid}")

    def _priority_nodes(self, base: Loc, obj: HaGroup | NodeAffinityRule) -> None:
        for name in obj.nodes:
            if name not in self.nodes:
                self.unknown_node((*base, "nodes", name), name, f"{obj.name}")


def _qdevice(checker: _Checker) -> None:
    """`pvecm qdevice setup` takes the qnetd host as an IP address (format 'ip'), never a
    name, and chooses the algorithm itself."""
    qd = checker.c.quorum.qdevice
    if qd is None:
        return
    try:
        ipaddress.ip_address(qd.host.strip())
    except ValueError:
        checker.add(("quorum", "qdevice", "host"), f"QDevice host {qd.host!r} is not an IP address",
                    "pvecm qdevice setup only takes the qnetd host's IP address")
    # pvecm qdevice setup picks the algorithm from the node count: ffsplit for an even
    # count (with or without --force), lms for an odd one (only with --force; without
    # it refuses). Any other choice can never be set up, so every apply would replace
    # the QDevice (pve-cluster src/PVE/CLI/pvecm.pm ~L132-140).
    count = len(checker.c.nodes)
    possible = "ffsplit" if count % 2 == 0 else "lms"
    if qd.algorithm != possible:
        why = ("refuses ffsplit on an odd node count and sets up lms (with --force)" if possible == "lms"
               else "always sets up ffsplit on an even node count")
        checker.add(("quorum", "qdevice", "algorithm"),
                    f"QDevice algorithm {qd.algorithm} on {count} nodes: pvecm qdevice setup {why}",
                    f"set algorithm: {possible}" + (", or drop the QDevice (an odd node count has a majority "
                                                    "on its own)" if possible == "lms" else ""))


def _ha_policy(checker: _Checker) -> None:
    """`crs: ha=dynamic` and the `ha-auto-rebalance*` keys exist only in pve-cluster 9.1.2+
    (`src/PVE/DataCenterConfig.pm` master L13-81; stable-bookworm L13-32 has basic/static and
    ha-rebalance-on-start only): PVE 8 refuses them with a 400."""
    ha = checker.c.ha
    if checker.c.pve_version != 8:
        return
    if ha.crs in PVE9_CRS_MODES:
        checker.add(("ha", "crs"), f"CRS mode {ha.crs} needs PVE 9", "on PVE 8 use basic or static")
    if ha.auto_rebalance is not None:
        checker.add(("ha", "auto_rebalance"), "automatic HA rebalancing needs PVE 9 (pve-ha-manager 5.2)",
                    "drop auto_rebalance, or use rebalance_on_start on PVE 8")


def check(cluster: Cluster) -> list[SpecIssue]:
    """All cross-check failures of `cluster`, in a stable order."""
    checker = _Checker(cluster)
    checker.nodes_and_network()
    checker.corosync()
    _qdevice(checker)
    checker.ceph()
    checker.storage()
    checker.secrets()
    checker.bootstrap()
    checker.ha()
    _ha_policy(checker)
    check_alerts_and_backups(checker.c, checker.add, checker.foreign_secret)
    return checker.issues
