"""Turn changes into ordered, quorum-safe actions.

1. `build_actions` maps each change to the action(s) that carry it out and
   records semantic dependencies (a join needs the cluster, an OSD needs a MON
   and its node in the cluster, an RBD storage needs its pool, a PVE 9 rule needs
   its resources to be HA-managed...).
2. `order_actions` checks the graph for cycles with `graphlib.TopologicalSorter`
   and linearises it: phases in `PHASES` order, inside a phase a topological
   order with ties broken by address, so the same inputs always give the same plan.
3. `check_safety` replays the steps against a vote/MON model and refuses a plan
   that would, at any step, leave the cluster below quorum or the MONs below a
   majority. MON changes are chained one per step, node joins and network
   reloads one node at a time.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from provision.crm.quorum import Member, QDevice, partition_quorum
from provision.discover.observed import Observed
from provision.plan.actions import PHASES, Action
from provision.plan.diff import Change, _iface_view, cluster_members
from provision.plan.errors import PlanError
from provision.spec.addresses import Address
from provision.spec.cluster import Cluster
from provision.spec.network import interface_parents
from provision.spec.secrets import SecretRef

_MUTATING = frozenset({"create", "update", "replace", "delete"})


def _model_params(model: Any, exclude: Iterable[str] = ()) -> dict[str, Any]:
    skip = set(exclude)
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        if name in skip:
            continue
        value = getattr(model, name)
        out[name] = _json(value)
    return out


def _json(value: Any) -> Any:
    """Params are plain JSON; a secret appears only as its reference."""
    if isinstance(value, SecretRef):
        return {"secret": value.describe()}
    if hasattr(value, "model_dump"):
        return _model_params(value)
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _set_params(change: Change, ident: dict[str, Any], desired: Any) -> dict[str, Any]:
    """Update params: the identity, the new value of each changed field, and
    `delete` for fields going back to unset (PVE's `delete=` parameter)."""
    params = dict(ident)
    deletes: list[str] = []
    for fd in change.field_diffs:
        key = fd.path.split(".", 1)[0]
        value = getattr(desired, key, fd.new) if desired is not None else fd.new
        if value is None:
            deletes.append(key)
        else:
            params[key] = _json(value)
    if deletes:
        params["delete"] = sorted(deletes)
    return params


@dataclass
class _Builder:
    desired: Cluster
    observed: Cluster
    facts: Observed | None
    changes: list[Change]
    prune: bool
    actions: dict[str, Action] = field(default_factory=dict)
    by_addr: dict[str, Change] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_addr = {str(c.address): c for c in self.changes if c.action in _MUTATING}

    # -- helpers --------------------------------------------------------------------
    def add(self, action: Action) -> Action:
        if action.id in self.actions:
            raise PlanError(f"internal error: duplicate action id {action.id}")
        self.actions[action.id] = action
        return action

    def changed(self, prefix: str, kind: str | None = None) -> list[Change]:
        out = []
        for ch in self.by_addr.values():
            segs = ch.address.segments
            if segs[0][0] == prefix and (kind is None or (len(segs) > 1 and segs[1][0] == kind)):
                out.append(ch)
        return sorted(out, key=lambda c: c.address)

    @property
    def members(self) -> list[str]:
        return sorted(cluster_members(self.observed))

    def deps(self, *ids: str | None) -> list[str]:
        return sorted({i for i in ids if i and i in self.actions})

    def member_action(self, node: str) -> str | None:
        """The action that makes `node` a cluster member, if the plan has one."""
        for aid in (f'node["{node}"]#join', "cluster#create"):
            action = self.actions.get(aid)
            if action and (aid.endswith("#join") or action.node == node):
                return aid
        return None

    def membership_ids(self) -> list[str]:
        return sorted(a.id for a in self.actions.values() if a.kind in ("cluster_create", "cluster_join"))

    # -- areas ----------------------------------------------------------------------
    def network(self) -> None:
        prev: str | None = None
        observed_nodes = {n.name: n for n in self.observed.nodes}
        for node in self.desired.nodes:
            mine = [c for c in self.changed("network") if c.address.segments[0][1] == node.name]
            if not mine:
                continue
            seen = observed_nodes.get(node.name)
            desired_names = {i.name for i in node.interfaces}
            keep = []
            if seen is not None and not self.prune:
                keep = [_iface_view(i) for i in seen.interfaces
                        if i.name not in desired_names and not _plain_nic(i)]
            changed = sorted(str(c.address.segments[1][1]) for c in mine)
            affects = self._affected_addresses(node.name, changed)
            links = {str(link.addresses[node.name]) for link in self.desired.corosync.links
                     if node.name in link.addresses}
            links |= {str(link.addresses[node.name]) for link in self.observed.corosync.links
                      if node.name in link.addresses}
            ceph_net = self.desired.ceph.public_network if self.desired.ceph else None
            action = self.add(Action(
                id=f'network["{node.name}"]#apply', phase="network", kind="network_apply",
                address=f'network["{node.name}"]', node=node.name, serial=True,
                params={
                    "interfaces": [_iface_view(i) for i in node.interfaces],
                    "keep": keep,
                    "changed": changed,
                    "affects_corosync": bool(affects & links),
                    "affects_ceph": bool(ceph_net and any(_in(a, ceph_net) for a in affects)),
                },
                depends_on=self.deps(prev), changes=[str(c.address) for c in mine],
                reason=f"stage /etc/network/interfaces on {node.name} and reload once",
            ))
            prev = action.id

    def _affected_addresses(self, node: str, changed: Sequence[str]) -> set[str]:
        """IPs carried by changed interfaces or by anything stacked on them (a
        reload of bond1 interrupts bond1.20 too)."""
        ifaces: dict[str, list[Any]] = {}
        for model in (self.observed.node(node), self.desired.node(node)):
            if model is not None:
                for i in model.interfaces:
                    ifaces.setdefault(i.name, []).append(i)
        related = set(changed)
        grew = True
        while grew:
            grew = False
            for name, versions in ifaces.items():
                parents = {p for v in versions for p in interface_parents(v)}
                if name not in related and parents & related:
                    related.add(name)
                    grew = True
        return {str(v.address.ip) for n in related for v in ifaces.get(n, []) if v.address is not None}

    def cluster(self) -> None:
        d = self.desired
        create = self.by_addr.get("cluster")
        creator: str | None = None
        if create is not None and create.action == "create":
            first = d.nodes[0]
            creator = first.name
            params: dict[str, Any] = {
                "clustername": d.name, "nodeid": first.nodeid, "votes": first.votes,
                "links": self._links(first.name, with_priority=True),
            }
            if d.corosync.token_coefficient is not None:
                params["token_coefficient"] = d.corosync.token_coefficient
            self.add(Action(
                id="cluster#create", phase="cluster", kind="cluster_create", address="cluster", node=first.name,
                params=params, serial=True, depends_on=self.deps(f'network["{first.name}"]#apply'),
                changes=["cluster", f'node["{first.name}"]'], reason=f"create cluster {d.name} on {first.name}",
            ))
        joins = [c for c in self.changed("node") if c.action == "create" and c.address.segments[0][1] != creator]
        anchor = creator or (self.members[0] if self.members else None)
        qdev_remove: str | None = None
        node_deletes = [c for c in self.changed("node") if c.action == "delete"]
        if self.observed.quorum.qdevice is not None and (joins or node_deletes):
            # corosync needs the QDevice removed while the member list changes.
            qdev_remove = self.add(Action(
                id="quorum.qdevice#remove-for-membership", phase="cluster", kind="qdevice_remove",
                address="quorum.qdevice", serial=True, changes=[],
                reason="PVE requires removing the QDevice before adding or removing nodes",
            )).id
        prev = "cluster#create" if creator else None
        anchor_node = d.node(anchor) if anchor else None
        for ch in joins:
            name = str(ch.address.segments[0][1])
            node = d.node(name)
            assert node is not None
            action = self.add(Action(
                id=f'node["{name}"]#join', phase="cluster", kind="cluster_join", address=f'node["{name}"]',
                node=name, serial=True,
                params={"cluster_node": anchor,
                        "cluster_address": str(anchor_node.address) if anchor_node else None,
                        "nodeid": node.nodeid, "votes": node.votes, "links": self._links(name)},
                depends_on=self.deps(prev, qdev_remove, f'network["{name}"]#apply',
                                     f'network["{anchor}"]#apply' if anchor else None),
                changes=[f'node["{name}"]'], reason=f"join {name} to the cluster (one node at a time)",
            ))
            prev = action.id
        for ch in node_deletes:
            name = str(ch.address.segments[0][1])
            runner = next((m for m in self.members if m != name and m in d.node_names), None)
            self.add(Action(
                id=f'node["{name}"]#remove', phase="destroy_cluster", kind="node_remove", address=f'node["{name}"]',
                node=runner, params={"node": name}, serial=True, destructive=True,
                depends_on=self.deps(qdev_remove), changes=[f'node["{name}"]'],
                reason=f"remove {name} from the cluster (power it off first; it must never return as is)",
            ))

    def _links(self, node: str, with_priority: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for link in sorted(self.desired.corosync.links, key=lambda k: k.number):
            addr = link.addresses.get(node)
            if addr is None:
                raise PlanError(f"corosync.link[{link.number}]: no address for {node} (no interface of {node} "
                                f"is inside {link.network}; set corosync.links[].addresses.{node})")
            entry: dict[str, Any] = {"address": str(addr)}
            if with_priority and link.priority is not None:
                entry["priority"] = link.priority
            out[str(link.number)] = entry
        return out

    def corosync(self) -> None:
        members = self.membership_ids()
        for ch in self.changed("corosync", "link"):
            number = int(ch.address.segments[1][1] or 0)
            if ch.action == "delete":
                self.add(Action(id=f"{ch.address}#remove", phase="destroy_corosync", kind="corosync_link_remove",
                                address=str(ch.address), params={"link": number}, serial=True,
                                changes=[str(ch.address)], reason=ch.reason))
                continue
            link = self.desired.corosync.link(number)
            assert link is not None
            self.add(Action(
                id=f"{ch.address}#set", phase="corosync", kind="corosync_link_set", address=str(ch.address),
                params={"link": number, "priority": link.priority,
                        "addresses": {k: str(v) for k, v in sorted(link.addresses.items())}},
                serial=True, depends_on=members, changes=[str(ch.address)],
                reason="edit corosync.conf (bump config_version)",
            ))
        totem = self.by_addr.get("corosync.totem")
        if totem is not None:
            self.add(Action(
                id="corosync.totem#set", phase="corosync", kind="corosync_totem_set", address="corosync.totem",
                params=_set_params(totem, {}, self.desired.corosync), serial=True, depends_on=members,
                changes=["corosync.totem"], reason="edit corosync.conf (bump config_version)",
            ))

    def qdevice(self) -> None:
        ch = self.by_addr.get("quorum.qdevice")
        want = self.desired.quorum.qdevice
        removed_for_membership = "quorum.qdevice#remove-for-membership" in self.actions
        if ch is not None and ch.action in ("replace", "delete") and not removed_for_membership:
            self.add(Action(
                id="quorum.qdevice#remove", phase="destroy_qdevice" if ch.action == "delete" else "qdevice",
                kind="qdevice_remove", address="quorum.qdevice", serial=True, changes=[str(ch.address)],
                reason=ch.reason or "QDevice not in the stack",
            ))
        if want is not None and (removed_for_membership or (ch is not None and ch.action in ("create", "replace"))):
            count = len(self.desired.nodes)
            # Node removals run last (destroy_cluster); the QDevice may only come back
            # once the member list is final, so its setup then runs after them.
            removals = sorted(a.id for a in self.actions.values() if a.kind == "node_remove")
            self.add(Action(
                id="quorum.qdevice#setup", phase="destroy_cluster" if removals else "qdevice", kind="qdevice_setup",
                address="quorum.qdevice",
                params={"host": want.host, "algorithm": want.algorithm, "tie_breaker": want.tie_breaker,
                        "force": want.algorithm == "lms" or count % 2 == 1},
                serial=True, depends_on=self.deps(*self.membership_ids(), *self._corosync_ids(),
                                                  "quorum.qdevice#remove", *removals),
                changes=["quorum.qdevice"] if ch is not None else [],
                reason="pvecm qdevice setup (needs every node online)",
            ))

    def _corosync_ids(self) -> list[str]:
        return [a.id for a in self.actions.values() if a.phase == "corosync"]

    def ceph(self) -> None:
        want = self.desired.ceph
        init = self.by_addr.get("ceph")
        base: list[str] = []
        if init is not None and init.action == "create" and want is not None:
            runner = want.mons[0] if want.mons else self.desired.nodes[0].name
            base = [self.add(Action(
                id="ceph#init", phase="ceph", kind="ceph_init", address="ceph", node=runner,
                params={"public_network": str(want.public_network),
                        "cluster_network": str(want.cluster_network) if want.cluster_network else None},
                depends_on=self.deps(*self.membership_ids()), changes=["ceph"],
                reason="pveceph init writes /etc/pve/ceph.conf",
            )).id]
        facts = self.facts
        had_mons = bool(self.observed.ceph and self.observed.ceph.mons)
        mgr_creates = {str(c.address.segments[1][1]) for c in self.changed("ceph", "mgr") if c.action == "create"}
        prev = None
        first_mon: str | None = None
        mon_ids: list[str] = []
        for ch in self.changed("ceph", "mon"):
            node = str(ch.address.segments[1][1])
            if ch.action == "delete":
                continue
            covers = [str(ch.address)]
            params: dict[str, Any] = {"monid": node}
            if not had_mons and first_mon is None and node in mgr_creates:
                # The first monitor of a cluster also creates a manager on its node.
                covers.append(f'ceph.mgr["{node}"]')
                params["creates_mgr"] = True
            action = self.add(Action(
                id=f"{ch.address}#create", phase="ceph", kind="ceph_mon_create", address=str(ch.address), node=node,
                params=params, serial=True,
                depends_on=self.deps(*base, prev, self.member_action(node), f'network["{node}"]#apply'),
                changes=covers, reason="one monitor per step",
            ))
            first_mon = first_mon or node
            prev = action.id
            mon_ids.append(action.id)
        mon_dep = mon_ids[-1] if mon_ids else (base[0] if base else None)
        first_mon_dep = mon_ids[0] if mon_ids else (base[0] if base else None)
        covered = {c for a in self.actions.values() for c in a.changes}
        for kind in ("mgr", "mds"):
            for ch in self.changed("ceph", kind):
                node = str(ch.address.segments[1][1])
                if ch.action == "create" and str(ch.address) not in covered:
                    self.add(Action(
                        id=f"{ch.address}#create", phase="ceph", kind=f"ceph_{kind}_create", address=str(ch.address),
                        node=node, params={"id": node}, depends_on=self.deps(first_mon_dep, self.member_action(node)),
                        changes=[str(ch.address)],
                    ))
                elif ch.action == "delete":
                    self.add(Action(
                        id=f"{ch.address}#destroy", phase="destroy_ceph", kind=f"ceph_{kind}_destroy",
                        address=str(ch.address), node=node, params={"id": node}, serial=True,
                        changes=[str(ch.address)], reason=ch.reason,
                    ))
        osd_creates: list[str] = []
        last_on_node: dict[str, str] = {}
        for ch in self.changed("ceph", "osd"):
            key = str(ch.address.segments[1][1])
            node, _, device = key.partition(":")
            state = facts.osd_for(node, device) if facts else None
            destroy_id = None
            if ch.action in ("replace", "delete"):
                destroy_id = self.add(Action(
                    id=f"{ch.address}#destroy", phase="ceph" if ch.action == "replace" else "destroy_ceph",
                    kind="ceph_osd_destroy", address=str(ch.address), node=node,
                    params={"osd_id": state.id if state else None, "device": device, "cleanup": True},
                    serial=True, destructive=True, changes=[str(ch.address)],
                    reason="mark out, stop, destroy and wipe (one OSD at a time)",
                )).id
            if ch.action in ("create", "replace"):
                osd = next(o for o in want.osds if o.key == key) if want else None
                assert osd is not None
                action = self.add(Action(
                    id=f"{ch.address}#create", phase="ceph", kind="ceph_osd_create", address=str(ch.address),
                    node=node, params=_model_params(osd, exclude=("node",)),
                    depends_on=self.deps(mon_dep, destroy_id, self.member_action(node), f'network["{node}"]#apply',
                                         last_on_node.get(node)),
                    destructive=ch.action == "replace", changes=[str(ch.address)],
                ))
                osd_creates.append(action.id)
                last_on_node[node] = action.id
            elif ch.action == "update":
                self.add(Action(
                    id=f"{ch.address}#set", phase="ceph", kind="ceph_osd_set", address=str(ch.address), node=node,
                    params={"osd_id": state.id if state else None, "device": device,
                            "device_class": want and next(o for o in want.osds if o.key == key).device_class},
                    depends_on=self.deps(mon_dep), changes=[str(ch.address)],
                ))
        mgr_ids = [a.id for a in self.actions.values() if a.kind == "ceph_mgr_create"] or (
            [first_mon_dep] if first_mon_dep else [])
        for ch in self.changed("ceph", "pool"):
            name = str(ch.address.segments[1][1])
            pool = next((p for p in want.pools if p.name == name), None) if want else None
            if ch.action == "create" and pool is not None:
                self.add(Action(
                    id=f"{ch.address}#create", phase="ceph", kind="ceph_pool_create", address=str(ch.address),
                    params=_model_params(pool), depends_on=self.deps(*osd_creates, *mgr_ids, mon_dep),
                    changes=[str(ch.address)],
                ))
            elif ch.action == "update" and pool is not None:
                self.add(Action(
                    id=f"{ch.address}#set", phase="ceph", kind="ceph_pool_set", address=str(ch.address),
                    params=_set_params(ch, {"name": name}, pool), changes=[str(ch.address)],
                    depends_on=self.deps(*osd_creates),
                ))
            elif ch.action == "delete":
                self.add(Action(
                    id=f"{ch.address}#destroy", phase="destroy_ceph", kind="ceph_pool_destroy",
                    address=str(ch.address), params={"name": name, "remove_storages": False}, serial=True,
                    destructive=True, changes=[str(ch.address)], reason=ch.reason,
                ))
        mds_ids = [a.id for a in self.actions.values() if a.kind == "ceph_mds_create"]
        for ch in self.changed("ceph", "fs"):
            name = str(ch.address.segments[1][1])
            fs = next((f for f in want.filesystems if f.name == name), None) if want else None
            if ch.action == "create" and fs is not None and want is not None:
                fs_runner = want.mdss[0] if want.mdss else None
                self.add(Action(
                    id=f"{ch.address}#create", phase="ceph", kind="ceph_fs_create", address=str(ch.address),
                    node=fs_runner, params=_model_params(fs), depends_on=self.deps(*mds_ids, *osd_creates, *mgr_ids),
                    changes=[str(ch.address)], reason="needs a running MDS",
                ))
            elif ch.action == "delete":
                self.add(Action(
                    id=f"{ch.address}#destroy", phase="destroy_ceph", kind="ceph_fs_destroy",
                    address=str(ch.address), params={"name": name, "remove_pools": False,
                                                     "remove_storages": False},
                    serial=True, destructive=True, changes=[str(ch.address)], reason=ch.reason,
                ))
        # MON removals last in Ceph teardown, one per step, never the last monitor.
        prev_destroy = None
        for ch in self.changed("ceph", "mon"):
            if ch.action != "delete":
                continue
            node = str(ch.address.segments[1][1])
            prev_destroy = self.add(Action(
                id=f"{ch.address}#destroy", phase="destroy_ceph", kind="ceph_mon_destroy", address=str(ch.address),
                node=node, params={"monid": node}, serial=True, destructive=True,
                depends_on=self.deps(prev_destroy, *[a.id for a in self.actions.values()
                                                     if a.phase == "destroy_ceph" and a.kind != "ceph_mon_destroy"]),
                changes=[str(ch.address)], reason="one monitor per step",
            )).id

    def storage(self) -> None:
        members = self.membership_ids()
        for ch in self.changed("storage"):
            name = str(ch.address.segments[0][1])
            want = self.desired.storage_by_name(name)
            remove_id = None
            if ch.action in ("replace", "delete"):
                remove_id = self.add(Action(
                    id=f"{ch.address}#remove", phase="storage" if ch.action == "replace" else "destroy_storage",
                    kind="storage_remove", address=str(ch.address), params={"storage": name},
                    destructive=ch.destructive, changes=[str(ch.address)],
                    reason="storage.cfg entry only; volumes on it are not deleted but become unreachable",
                )).id
            if want is None:
                continue
            deps = [*members, remove_id]
            if want.type == "rbd":
                deps.append(f'ceph.pool["{want.pool}"]#create')
            if want.type == "cephfs":
                deps.append(f'ceph.fs["{want.fs_name}"]#create')
            if ch.action in ("create", "replace"):
                params = {"storage": name, **{k: v for k, v in _model_params(want, exclude=("name",)).items()
                                              if v is not None}}
                self.add(Action(
                    id=f"{ch.address}#add", phase="storage", kind="storage_add", address=str(ch.address),
                    params=params, depends_on=self.deps(*deps), changes=[str(ch.address)],
                ))
            elif ch.action == "update":
                self.add(Action(
                    id=f"{ch.address}#set", phase="storage", kind="storage_set", address=str(ch.address),
                    params=_set_params(ch, {"storage": name, "type": want.type}, want),
                    depends_on=self.deps(*deps), changes=[str(ch.address)],
                ))

    def ha(self) -> None:
        members = self.membership_ids()
        for kind, noun, key_name in (("group", "group", "group"), ("resource", "resource", "sid"),
                                     ("rule", "rule", "rule")):
            for ch in self.changed("ha", kind):
                key = str(ch.address.segments[1][1])
                want = self._ha_object(kind, key)
                phase = {"group": "ha_groups", "resource": "ha_resources", "rule": "ha_rules"}[kind]
                remove_id = None
                if ch.action in ("delete", "replace"):
                    remove_id = self.add(Action(
                        id=f"{ch.address}#remove", phase=phase if ch.action == "replace" else f"destroy_{phase}",
                        kind=f"ha_{noun}_remove", address=str(ch.address),
                        params={key_name: key, **({"type": ch.before.get("type")} if kind == "rule" and ch.before
                                                  else {})},
                        changes=[str(ch.address)], reason=ch.reason,
                    )).id
                if want is None or ch.action == "delete":
                    continue
                deps: list[str | None] = [*members, remove_id]
                if kind == "resource" and getattr(want, "group", None):
                    deps.append(f'ha.group["{want.group}"]#add')
                if kind == "rule":
                    deps += [f'ha.resource["{sid}"]#add' for sid in want.resources]
                if ch.action in ("create", "replace"):
                    params = {key_name: key, **{k: v for k, v in _model_params(
                        want, exclude=("name", "sid")).items() if v is not None}}
                    if kind == "resource" and self.desired.pve_version == 8:
                        params.pop("failback", None)  # PVE 8 has no failback option
                    self.add(Action(
                        id=f"{ch.address}#add", phase=phase, kind=f"ha_{noun}_add", address=str(ch.address),
                        params=params, depends_on=self.deps(*deps), changes=[str(ch.address)],
                    ))
                else:
                    ident: dict[str, Any] = {key_name: key}
                    if kind == "rule":
                        ident["type"] = want.type
                    self.add(Action(
                        id=f"{ch.address}#set", phase=phase, kind=f"ha_{noun}_set", address=str(ch.address),
                        params=_set_params(ch, ident, want), depends_on=self.deps(*deps),
                        changes=[str(ch.address)],
                    ))

    def _ha_object(self, kind: str, key: str) -> Any:
        ha = self.desired.ha
        if kind == "group":
            return next((g for g in ha.groups if g.name == key), None) or _from_after(self.by_addr, "group", key)
        if kind == "rule":
            return next((r for r in ha.rules if r.name == key), None) or _from_after(self.by_addr, "rule", key)
        found = ha.resource(key)
        change = self.by_addr.get(f'ha.resource["{key}"]')
        if found is not None and change is not None and change.after is not None:
            # diff may have translated the resource (PVE 9 group migration)
            return found.model_copy(update={k: v for k, v in change.after.items() if k in ("group", "failback")})
        return found


def _from_after(by_addr: dict[str, Change], kind: str, key: str) -> Any:
    """Objects diff synthesised (migrated group rules) exist only as views."""
    from provision.spec.ha import NodeAffinityRule

    change = by_addr.get(f'ha.{kind}["{key}"]')
    if change is None or change.after is None or kind != "rule":
        return None
    return NodeAffinityRule.model_validate({"name": key, **change.after})


def _plain_nic(iface: Any) -> bool:
    return bool(iface.type == "nic" and iface.address is None and iface.mtu in (None, 1500) and not iface.comment)


def _in(address: str, network: Any) -> bool:
    import ipaddress

    try:
        return ipaddress.IPv4Address(address) in network
    except ValueError:
        return False


def build_actions(
    changes: Sequence[Change], desired: Cluster, observed: Cluster, facts: Observed | None = None,
    *, prune: bool = False,
) -> list[Action]:
    """Changes -> actions with dependencies (not yet ordered)."""
    b = _Builder(desired, observed, facts, list(changes), prune)
    b.network()
    b.cluster()
    b.corosync()
    b.qdevice()
    b.ceph()
    b.storage()
    b.ha()
    return list(b.actions.values())


# Inside a phase, ties are broken by kind (the sub-order of design.md: Ceph init,
# MONs, MGRs, OSDs, pools, MDS, CephFS) and then by address.
_KIND_RANK = {kind: i for i, kind in enumerate((
    "qdevice_remove", "cluster_create", "cluster_join",
    "ceph_init", "ceph_mon_create", "ceph_mgr_create", "ceph_osd_destroy", "ceph_osd_create", "ceph_osd_set",
    "ceph_pool_create", "ceph_pool_set", "ceph_mds_create", "ceph_fs_create",
    "ceph_fs_destroy", "ceph_pool_destroy", "ceph_mds_destroy", "ceph_mgr_destroy", "ceph_mon_destroy",
))}


def _sort_key(action: Action) -> tuple[Any, ...]:
    return (_KIND_RANK.get(action.kind, 50), _safe(action.address), action.id)


def order_actions(actions: Sequence[Action]) -> list[Action]:
    """Cycle check, then a deterministic linear order: phases first, then a
    topological order inside each phase (ties by address). Dependencies on
    actions that are not in the list (e.g. filtered out by --target) are dropped."""
    by_id = {a.id: a for a in actions}
    graph = {a.id: {d for d in a.depends_on if d in by_id} for a in actions}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1]) if len(exc.args) > 1 else "?"
        raise PlanError(f"dependency cycle between actions: {cycle}") from None
    phase_rank = {p: i for i, p in enumerate(PHASES)}
    for a in actions:
        for dep in graph[a.id]:
            if phase_rank[by_id[dep].phase] > phase_rank[a.phase]:
                raise PlanError(f"{a.id} (phase {a.phase}) depends on {dep} which runs later "
                                f"(phase {by_id[dep].phase})")
    ordered: list[Action] = []
    for phase in PHASES:
        members = {a.id for a in actions if a.phase == phase}
        if not members:
            continue
        sorter = graphlib.TopologicalSorter({i: graph[i] & members for i in members})
        sorter.prepare()
        heap: list[tuple[Any, ...]] = []
        for ready in sorter.get_ready():
            heapq.heappush(heap, (*_sort_key(by_id[ready]), ready))
        while heap:
            current = heapq.heappop(heap)[-1]
            ordered.append(by_id[current])
            sorter.done(current)
            for ready in sorter.get_ready():
                heapq.heappush(heap, (*_sort_key(by_id[ready]), ready))
    for step, action in enumerate(ordered, start=1):
        action.step = step
        action.depends_on = sorted(graph[action.id])
    return ordered


def select_targets(actions: Sequence[Action], targets: Sequence[Address]) -> list[Action]:
    """Actions touching a target address, plus everything they depend on."""
    if not targets:
        return list(actions)
    by_id = {a.id: a for a in actions}
    wanted = [a for a in actions if any(t.contains(Address.parse(c)) or t.contains(_safe(a.address))
                                        for t in targets for c in a.changes or [a.address])]
    keep: set[str] = set()
    todo = [a.id for a in wanted]
    while todo:
        cur = todo.pop()
        if cur in keep or cur not in by_id:
            continue
        keep.add(cur)
        todo.extend(by_id[cur].depends_on)
    return [a for a in actions if a.id in keep]


def _safe(text: str) -> Address:
    try:
        return Address.parse(text)
    except ValueError:
        return Address.of(text)


# -- quorum safety --------------------------------------------------------------------
def check_safety(actions: Sequence[Action], desired: Cluster, observed: Cluster, facts: Observed | None) -> None:
    """Replay the ordered actions against votes and MONs; raise PlanError at the
    first step that would lose corosync quorum or the MON majority."""
    nodeids = {n.name: n.nodeid for n in observed.nodes if n.nodeid >= 1}
    nodeids.update({n.name: n.nodeid for n in desired.nodes})
    votes = {n.name: n.votes for n in observed.nodes if n.nodeid >= 1}
    members: set[str] = set(facts.members) if facts and facts.clustered else {
        n.name for n in observed.nodes if n.nodeid >= 1}
    if facts and facts.clustered:
        votes.update({n: m.votes for n, m in facts.members.items()})
        nodeids.update({n: m.nodeid for n, m in facts.members.items()})
    online = {n for n in members if not facts or n not in facts.members or facts.members[n].online}
    qd = observed.quorum.qdevice
    qdevice = QDevice(qd.algorithm, tie_breaker=qd.tie_breaker) if qd else None
    mons: dict[str, bool] = {}
    if facts and facts.mons:
        mons = {m.node: m.in_quorum for m in facts.mons}
    elif observed.ceph:
        mons = {m: True for m in observed.ceph.mons}
    desired_votes = {n.name: n.votes for n in desired.nodes}

    def quorate(up: set[str]) -> tuple[bool, str]:
        if not members:
            return True, ""
        ms = [Member(n, nodeids.get(n, i + 1), votes.get(n, 1)) for i, n in enumerate(sorted(members))]
        verdict = partition_quorum(ms, [sorted(up & members)], qdevice)[0]
        return verdict.quorate, verdict.reason

    def mon_ok(down: set[str]) -> tuple[bool, str]:
        if not mons:
            return True, ""
        alive = sum(1 for n, ok in mons.items() if ok and n not in down)
        need = len(mons) // 2 + 1
        return alive >= need, f"{alive} of {len(mons)} monitors up, need {need}"

    for a in actions:
        where = f"step {a.step} ({a.id})"
        if a.kind == "cluster_create" and a.node:
            members = {a.node}
            votes[a.node] = desired_votes.get(a.node, 1)
            online.add(a.node)
        elif a.kind == "cluster_join" and a.node:
            members.add(a.node)
            votes[a.node] = desired_votes.get(a.node, 1)
            online.add(a.node)
        elif a.kind == "node_remove":
            gone = str(a.params.get("node"))
            ok, why = quorate(online - {gone})
            if not ok:
                raise PlanError(f"{where} would lose quorum while {gone} is powered off for removal: {why}")
            members.discard(gone)
            online.discard(gone)
        elif a.kind == "network_apply" and a.node in members:
            if a.params.get("affects_corosync"):
                ok, why = quorate(online - {a.node})
                if not ok:
                    raise PlanError(f"{where}: reloading the network of {a.node} interrupts its corosync links "
                                    f"and the rest would not be quorate: {why}")
            if a.params.get("affects_ceph") and a.node in mons:
                ok, why = mon_ok({a.node})
                if not ok:
                    raise PlanError(f"{where}: the monitor on {a.node} would drop out during the reload: {why}")
        elif a.kind == "qdevice_remove":
            qdevice = None
            ok, why = quorate(online)
            if not ok:
                raise PlanError(f"{where}: removing the QDevice loses quorum: {why}")
        elif a.kind == "qdevice_setup":
            alg = a.params.get("algorithm", "ffsplit")
            qdevice = QDevice("lms" if alg == "lms" else "ffsplit")
        elif a.kind == "ceph_mon_create" and a.node:
            mons[a.node] = True
        elif a.kind == "ceph_mon_destroy" and a.node:
            if len(mons) <= 1:
                raise PlanError(f"{where}: refusing to remove the last monitor")
            rest = {n: ok for n, ok in mons.items() if n != a.node}
            alive = sum(1 for ok in rest.values() if ok)
            need = len(rest) // 2 + 1
            if alive < need:
                raise PlanError(f"{where}: removing the monitor on {a.node} leaves {alive} of {len(rest)} "
                                f"monitors in quorum, need {need}")
            mons = rest
