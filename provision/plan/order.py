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
   majority. MON changes are chained one per step, node joins one node at a time,
   network reloads in batches whose nodes the cluster can lose all at once.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from provision.actions import Action, ActionId, Kind, Phase, Replay, UnsafeStep, Verb
from provision.actions import params as P
from provision.actions.action import ActionError
from provision.actions.safety import Reload, reload_batches
from provision.crm.quorum import QDevice
from provision.discover.observed import Observed
from provision.plan import datacenter as datacenter_options
from provision.plan.alert_actions import build_alert_actions
from provision.plan.diff import Change, _iface_view, cluster_members
from provision.plan.errors import PlanError
from provision.plan.ha_hosts import ha_add_nodes
from provision.plan.storage_options import storage_options
from provision.spec.addresses import Address
from provision.spec.cluster import Cluster
from provision.spec.network import interface_parents

_MUTATING = frozenset({"create", "update", "replace", "delete"})


def aid(address: Address | str, verb: Verb) -> ActionId:
    return ActionId.of(address, verb)


def _changed_fields(change: Change) -> list[str]:
    return sorted({fd.path.split(".", 1)[0] for fd in change.field_diffs})


def _update(model: type[P.Params], change: Change, ident: dict[str, Any], desired: Any,
            rename: dict[str, str] | None = None) -> P.Params:
    """Update params: the identity, the new value of each changed field, and `delete`
    for fields going back to unset (PVE's `delete=` parameter)."""
    values: dict[str, Any] = dict(ident)
    deletes: list[str] = []
    for key in _changed_fields(change):
        name = (rename or {}).get(key, key)
        value = getattr(desired, key, None) if desired is not None else None
        if value is None:
            deletes.append(name)
        elif name in model.model_fields:
            values[name] = _plain(value)
    if deletes and "delete" in model.model_fields:
        values["delete"] = sorted(deletes)
    return _params(model, values)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _params(model: type[P.Params], values: dict[str, Any]) -> P.Params:
    """Typed params from plain values; a value the kind cannot take is a plan error
    naming the field (the stack passed validation, so this is a planner bug or a value
    PVE's CLI could not take)."""
    try:
        return model.model_validate({k: _plain(v) for k, v in values.items()}, strict=False)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ()))
        raise PlanError(f"{model.__name__}: {loc}: {err.get('msg')}") from None


@dataclass
class _Builder:
    desired: Cluster
    observed: Cluster
    facts: Observed | None
    changes: list[Change]
    prune: bool
    actions: dict[ActionId, Action] = field(default_factory=dict)
    by_addr: dict[str, Change] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_addr = {str(c.address): c for c in self.changes if c.action in _MUTATING}

    # -- helpers --------------------------------------------------------------------
    def add(self, kind: Kind, address: Address | str, verb: Verb, phase: Phase, params: P.Params, *,
            node: str | None = None, depends_on: Sequence[ActionId] = (), changes: Sequence[str] | None = None,
            reason: str = "") -> ActionId:
        """Add one action; its id is `address#verb`. Dependencies must be actions of this
        plan already (use `planned()` for ones that exist only in some plans)."""
        action_id = aid(address, verb)
        if action_id in self.actions:
            raise PlanError(f"internal error: duplicate action id {action_id}")
        unknown = [str(d) for d in depends_on if d not in self.actions]
        if unknown:
            raise PlanError(f"internal error: {action_id} depends on unknown action(s) {', '.join(unknown)}")
        try:
            action = Action(id=action_id, phase=phase, kind=kind, params=params, node=node,
                            depends_on=sorted(set(depends_on)),
                            changes=list(changes) if changes is not None else [str(action_id.address)],
                            reason=reason)
        except ActionError as exc:
            raise PlanError(f"internal error: {exc}") from None
        self.actions[action_id] = action
        return action_id

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

    def planned(self, *ids: ActionId | None) -> list[ActionId]:
        """The ids among `ids` that this plan contains: a dependency on an action that
        only some plans have (a node's network reload, the cluster creation)."""
        return sorted({i for i in ids if i is not None and i in self.actions})

    def member_action(self, node: str) -> ActionId | None:
        """The action that makes `node` a cluster member, if the plan has one."""
        join = aid(Address.of(("node", node)), Verb.JOIN)
        if join in self.actions:
            return join
        create = self.actions.get(aid("cluster", Verb.CREATE))
        return create.id if create is not None and create.node == node else None

    def membership_ids(self) -> list[ActionId]:
        return sorted(a.id for a in self.actions.values() if a.kind in (Kind.CLUSTER_CREATE, Kind.CLUSTER_JOIN))

    def network_of(self, node: str | None) -> ActionId | None:
        return aid(Address.of(("network", node)), Verb.APPLY) if node else None

    # -- areas ----------------------------------------------------------------------
    def network(self) -> None:
        """One reload per node whose interfaces change, in batches that run at once
        (`reload_batches`: every node not yet in the cluster together, members as many
        at a time as quorum and the MON majority allow); each reload of a batch waits for
        every reload of the batch before it, so batches never overlap."""
        reloads: list[tuple[Reload, P.Params, list[Change]]] = []
        for node in self.desired.nodes:
            mine = [c for c in self.changed("network") if c.address.segments[0][1] == node.name]
            if not mine:
                continue
            changed = sorted(str(c.address.segments[1][1]) for c in mine)
            remove = sorted(str(c.address.segments[1][1]) for c in mine if c.action == "delete")
            affects = self._affected_addresses(node.name, changed)
            links = {str(link.addresses[node.name]) for link in self.desired.corosync.links
                     if node.name in link.addresses}
            links |= {str(link.addresses[node.name]) for link in self.observed.corosync.links
                      if node.name in link.addresses}
            ceph_net = self.desired.ceph.public_network if self.desired.ceph else None
            params = _params(P.NetworkApply, {
                "interfaces": [_iface_view(i) for i in node.interfaces if i.managed],
                "remove": remove,
                "corosync_links": sorted(link.number for link in self.desired.corosync.links
                                         if node.name in link.addresses),
                "changed": changed,
                "affects_corosync": bool(affects & links),
                "affects_ceph": bool(ceph_net and any(_in(a, ceph_net) for a in affects)),
            })
            assert isinstance(params, P.NetworkApply)
            reloads.append((Reload.of(node.name, params), params, mine))
        by_node = {r.node: (params, mine) for r, params, mine in reloads}
        before: list[ActionId] = []
        for batch in reload_batches(replay_state(self.desired, self.observed, self.facts), [r for r, _, _ in reloads]):
            ids = []
            for reload in batch:
                params, mine = by_node[reload.node]
                ids.append(self.add(
                    Kind.NETWORK_APPLY, Address.of(("network", reload.node)), Verb.APPLY, Phase.NETWORK, params,
                    node=reload.node, depends_on=before, changes=[str(c.address) for c in mine],
                    reason=f"stage /etc/network/interfaces on {reload.node} and reload once",
                ))
            before = ids

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
        create_id: ActionId | None = None
        if create is not None and create.action == "create":
            first = d.nodes[0]
            creator = first.name
            create_id = self.add(
                Kind.CLUSTER_CREATE, "cluster", Verb.CREATE, Phase.CLUSTER,
                # no token_coefficient here: `pvecm create --token-coefficient` needs
                # pve-cluster 9.1; corosync() sets it with a totem edit instead
                _params(P.ClusterCreate, {"clustername": d.name, "nodeid": first.nodeid, "votes": first.votes,
                                          "links": self._links(first.name, with_priority=True)}),
                node=first.name, depends_on=self.planned(self.network_of(first.name)),
                changes=["cluster", f'node["{first.name}"]'], reason=f"create cluster {d.name} on {first.name}",
            )
        joins = [c for c in self.changed("node") if c.action == "create" and c.address.segments[0][1] != creator]
        anchor = creator or (self.members[0] if self.members else None)
        qdev_remove: ActionId | None = None
        node_deletes = [c for c in self.changed("node") if c.action == "delete"]
        if self.observed.quorum.qdevice is not None and (joins or node_deletes):
            # corosync needs the QDevice removed while the member list changes.
            qdev_remove = self.add(
                Kind.QDEVICE_REMOVE, "quorum.qdevice", Verb.REMOVE_FOR_MEMBERSHIP, Phase.CLUSTER, P.QdeviceRemove(),
                changes=[], reason="PVE requires removing the QDevice before adding or removing nodes",
            )
        prev = create_id
        anchor_node = d.node(anchor) if anchor else None
        for ch in joins:
            name = str(ch.address.segments[0][1])
            node = d.node(name)
            assert node is not None
            if anchor_node is None:
                raise PlanError(f"{ch.address}: no cluster member to join {name} to")
            trust = self.add(
                Kind.SSH_TRUST, ch.address, Verb.TRUST_SSH, Phase.CLUSTER,
                _params(P.SshTrust, {"peer": anchor, "peer_address": str(anchor_node.address)}),
                node=name, depends_on=self.planned(self.network_of(name), self.network_of(anchor)), changes=[],
                reason=f"pvecm add --use_ssh needs root SSH from {name} to {anchor}",
            )
            prev = self.add(
                Kind.CLUSTER_JOIN, ch.address, Verb.JOIN, Phase.CLUSTER,
                _params(P.ClusterJoin, {"cluster_address": str(anchor_node.address), "nodeid": node.nodeid,
                                        "votes": node.votes, "links": self._links(name)}),
                node=name,
                depends_on=self.planned(prev, trust, qdev_remove, self.network_of(name), self.network_of(anchor)),
                changes=[f'node["{name}"]'], reason=f"join {name} to the cluster (one node at a time)",
            )
        for ch in node_deletes:
            name = str(ch.address.segments[0][1])
            runner = next((m for m in self.members if m != name and m in d.node_names), None)
            self._refuse_guests_on(name)
            shutdown: ActionId | None = None
            member = self.facts.members.get(name) if self.facts else None
            if member is None or member.online:
                # pvecm delnode needs the node off (pvecm.adoc "Remove a Cluster Node"); its
                # Ceph daemons were destroyed on it in destroy_ceph, which runs before this phase
                shutdown = self.add(
                    Kind.NODE_SHUTDOWN, ch.address, Verb.SHUTDOWN, Phase.DESTROY_CLUSTER, P.NodeShutdown(node=name),
                    node=runner, depends_on=self.planned(qdev_remove), changes=[],
                    reason=f"{name} is online: power it off for its removal (keep it off: it must never come "
                           "back with this cluster's configuration)",
                )
            self.add(
                Kind.NODE_REMOVE, ch.address, Verb.REMOVE, Phase.DESTROY_CLUSTER, P.NodeRemove(node=name),
                node=runner, depends_on=self.planned(qdev_remove, shutdown),
                reason=f"remove {name} from the cluster (it must be powered off and never return as is)",
            )

    def _refuse_guests_on(self, node: str) -> None:
        """A node is removed empty: its guests would stop with it and their configurations
        stay behind in /etc/pve/nodes/<node>, reachable from no node."""
        guests = sorted(g.sid for g in self.observed.guests if g.node == node)
        if guests:
            raise PlanError(f'node["{node}"]: guests still on {node}: {", ".join(guests)}; migrate them to a node that '
                            "stays before removing it")

    def _links(self, node: str, with_priority: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for link in sorted(self.desired.corosync.links, key=lambda k: k.number):
            addr = link.addresses.get(node)
            if addr is None:
                raise PlanError(f"corosync.link[{link.number}]: no address for {node} (no interface of {node} "
                                f"is inside {link.network}; set corosync.links[].addresses.{node})")
            out.append({"number": link.number, "address": str(addr),
                        "priority": link.priority if with_priority else None})
        return out

    def corosync(self) -> None:
        members = self.membership_ids()
        for ch in self.changed("corosync", "link"):
            number = int(ch.address.segments[1][1] or 0)
            if ch.action == "delete":
                self.add(Kind.COROSYNC_LINK_REMOVE, ch.address, Verb.REMOVE, Phase.DESTROY_COROSYNC,
                         P.CorosyncLinkRemove(link=number), reason=ch.reason)
                continue
            link = self.desired.corosync.link(number)
            assert link is not None
            self.add(
                Kind.COROSYNC_LINK_SET, ch.address, Verb.SET, Phase.COROSYNC,
                _params(P.CorosyncLinkSet, {"link": number, "priority": link.priority,
                                            "addresses": {k: str(v) for k, v in sorted(link.addresses.items())}}),
                depends_on=members, reason="edit corosync.conf (bump config_version)",
            )
        totem = self.by_addr.get("corosync.totem")
        if totem is not None:
            self.add(
                Kind.COROSYNC_TOTEM_SET, "corosync.totem", Verb.SET, Phase.COROSYNC,
                _update(P.CorosyncTotemSet, totem, {}, self.desired.corosync),
                depends_on=members, reason="edit corosync.conf (bump config_version)",
            )
        elif self.desired.corosync.token_coefficient is not None and aid("cluster", Verb.CREATE) in self.actions:
            self.add(
                Kind.COROSYNC_TOTEM_SET, "corosync.totem", Verb.SET, Phase.COROSYNC,
                _params(P.CorosyncTotemSet, {"token_coefficient": self.desired.corosync.token_coefficient}),
                depends_on=members,
                reason="token_coefficient of the new cluster (pvecm create has the option only from pve-cluster 9.1)",
            )

    def qdevice(self) -> None:
        ch = self.by_addr.get("quorum.qdevice")
        want = self.desired.quorum.qdevice
        removed_for_membership = aid("quorum.qdevice", Verb.REMOVE_FOR_MEMBERSHIP) in self.actions
        remove_id: ActionId | None = None
        if ch is not None and ch.action in ("replace", "delete") and not removed_for_membership:
            remove_id = self.add(
                Kind.QDEVICE_REMOVE, "quorum.qdevice", Verb.REMOVE,
                Phase.DESTROY_QDEVICE if ch.action == "delete" else Phase.QDEVICE, P.QdeviceRemove(),
                changes=[str(ch.address)], reason=ch.reason or "QDevice not in the stack",
            )
        if want is not None and (removed_for_membership or (ch is not None and ch.action in ("create", "replace"))):
            # Node removals run last (destroy_cluster); the QDevice may only come back
            # once the member list is final, so its setup then runs after them.
            removals = sorted(a.id for a in self.actions.values() if a.kind == Kind.NODE_REMOVE)
            runner = self.desired.nodes[0].name
            self.add(
                Kind.QDEVICE_SETUP, "quorum.qdevice", Verb.SETUP, Phase.DESTROY_CLUSTER if removals else Phase.QDEVICE,
                # the stack check keeps lms to odd node counts, where pvecm needs --force
                _params(P.QdeviceSetup, {"host": want.host, "algorithm": want.algorithm,
                                         "tie_breaker": want.tie_breaker, "force": want.algorithm == "lms"}),
                node=runner,
                depends_on=self.planned(*self.membership_ids(), *self._corosync_ids(), remove_id, *removals,
                                        *self.qdevice_preparation(runner, want.host)),
                changes=["quorum.qdevice"] if ch is not None else [],
                reason="pvecm qdevice setup (needs every node online)",
            )

    def qdevice_preparation(self, runner: str, host: str) -> list[ActionId]:
        """What `pvecm qdevice setup` on `runner` needs and never does itself (pvecm.pm):
        corosync-qdevice on every node, corosync-qnetd on the QNetd host, and root SSH
        from `runner` to it. Planned with every setup; each step leaves a prepared host
        as it is (no package list in the API shows these packages, and once the QDevice
        is set up nothing is planned, so a converged cluster plans nothing here)."""
        out = [self.add(
            Kind.QDEVICE_INSTALL, Address.of(("node", node.name)), Verb.INSTALL_QDEVICE, Phase.QDEVICE,
            P.QdeviceInstall(), node=node.name, depends_on=self.planned(self.network_of(node.name)), changes=[],
            reason=f"pvecm qdevice setup needs corosync-qdevice on {node.name}",
        ) for node in self.desired.nodes]
        out.append(self.add(
            Kind.QNETD_INSTALL, "quorum.qdevice", Verb.INSTALL_QNETD, Phase.QDEVICE,
            _params(P.QnetdInstall, {"host": host}), node=runner, changes=[],
            reason=f"pvecm qdevice setup needs corosync-qnetd on the QNetd host {host}",
        ))
        out.append(self.add(
            Kind.SSH_TRUST, "quorum.qdevice", Verb.TRUST_SSH, Phase.QDEVICE,
            _params(P.SshTrust, {"peer": host, "peer_address": host}), node=runner,
            depends_on=self.planned(self.network_of(runner)), changes=[],
            reason=f"pvecm qdevice setup copies certificates over root SSH from {runner} to {host}",
        ))
        return out

    def _corosync_ids(self) -> list[ActionId]:
        return [a.id for a in self.actions.values() if a.phase == Phase.COROSYNC]

    def ceph_install(self) -> dict[str, ActionId]:
        """`pveceph install` on every stack node whose package list says Ceph is missing
        (an unreadable list plans nothing: the node is then unknown, not bare)."""
        want = self.desired.ceph
        installed = self.facts.ceph_installed if self.facts else {}
        out: dict[str, ActionId] = {}
        if want is None:
            return out
        for node in self.desired.nodes:
            if installed.get(node.name) != "":
                continue
            out[node.name] = self.add(
                Kind.CEPH_INSTALL, Address.of(("node", node.name)), Verb.INSTALL_CEPH, Phase.CEPH,
                _params(P.CephInstall, {"release": want.release, "repository": want.repository}),
                node=node.name, depends_on=self.planned(self.network_of(node.name)), changes=[],
                reason=f"Ceph is not installed on {node.name} (pveceph init and the daemons need it)",
            )
        return out

    def ceph(self) -> None:
        want = self.desired.ceph
        init = self.by_addr.get("ceph")
        installs = self.ceph_install()
        base: list[ActionId] = []
        if init is not None and init.action == "create" and want is not None:
            runner = want.mons[0] if want.mons else self.desired.nodes[0].name
            base = [self.add(
                Kind.CEPH_INIT, "ceph", Verb.INIT, Phase.CEPH,
                _params(P.CephInit, {"public_network": str(want.public_network),
                                     "cluster_network": str(want.cluster_network) if want.cluster_network else None}),
                node=runner, depends_on=[*self.membership_ids(), *installs.values()],
                reason="pveceph init writes /etc/pve/ceph.conf",
            )]
        facts = self.facts
        had_mons = bool(self.observed.ceph and self.observed.ceph.mons)
        mgr_creates = {str(c.address.segments[1][1]) for c in self.changed("ceph", "mgr") if c.action == "create"}
        prev: ActionId | None = None
        first_mon: str | None = None
        mon_ids: list[ActionId] = []
        for ch in self.changed("ceph", "mon"):
            node = str(ch.address.segments[1][1])
            if ch.action == "delete":
                continue
            covers = [str(ch.address)]
            if not had_mons and first_mon is None and node in mgr_creates:
                # The first monitor of a cluster also creates a manager on its node.
                covers.append(f'ceph.mgr["{node}"]')
            prev = self.add(
                Kind.CEPH_MON_CREATE, ch.address, Verb.CREATE, Phase.CEPH, _params(P.CephMon, {"monid": node}),
                node=node, depends_on=self.planned(*base, prev, self.member_action(node), self.network_of(node),
                                                   installs.get(node)),
                changes=covers, reason="one monitor per step",
            )
            first_mon = first_mon or node
            mon_ids.append(prev)
        mon_dep = mon_ids[-1] if mon_ids else (base[0] if base else None)
        first_mon_dep = mon_ids[0] if mon_ids else (base[0] if base else None)
        covered = {c for a in self.actions.values() for c in a.changes}
        for kind, create_kind, destroy_kind in (("mgr", Kind.CEPH_MGR_CREATE, Kind.CEPH_MGR_DESTROY),
                                                ("mds", Kind.CEPH_MDS_CREATE, Kind.CEPH_MDS_DESTROY)):
            for ch in self.changed("ceph", kind):
                node = str(ch.address.segments[1][1])
                if ch.action == "create" and str(ch.address) not in covered:
                    self.add(create_kind, ch.address, Verb.CREATE, Phase.CEPH, _params(P.CephDaemon, {"id": node}),
                             node=node, depends_on=self.planned(first_mon_dep, self.member_action(node),
                                                                installs.get(node)))
                elif ch.action == "delete":
                    self.add(destroy_kind, ch.address, Verb.DESTROY, Phase.DESTROY_CEPH,
                             _params(P.CephDaemon, {"id": node}), node=node, reason=ch.reason)
        osd_creates: list[ActionId] = []
        last_on_node: dict[str, ActionId] = {}
        for ch in self.changed("ceph", "osd"):
            key = str(ch.address.segments[1][1])
            node, _, device = key.partition(":")
            state = facts.osd_for(node, device) if facts else None
            destroy_id: ActionId | None = None
            if ch.action in ("replace", "delete"):
                destroy_id = self.add(
                    Kind.CEPH_OSD_DESTROY, ch.address, Verb.DESTROY,
                    Phase.CEPH if ch.action == "replace" else Phase.DESTROY_CEPH,
                    _params(P.CephOsdDestroy, {"osd_id": state.id if state else None, "device": device,
                                               "cleanup": True}),
                    node=node, reason="mark out, stop, destroy and wipe (one OSD at a time)",
                )
            if ch.action in ("create", "replace"):
                osd = next(o for o in want.osds if o.key == key) if want else None
                assert osd is not None
                created = self.add(
                    Kind.CEPH_OSD_CREATE, ch.address, Verb.CREATE, Phase.CEPH,
                    _params(P.CephOsdCreate, {k: getattr(osd, k) for k in P.CephOsdCreate.model_fields}),
                    node=node, depends_on=self.planned(mon_dep, destroy_id, self.member_action(node),
                                                       self.network_of(node), last_on_node.get(node),
                                                       installs.get(node)),
                )
                osd_creates.append(created)
                last_on_node[node] = created
            elif ch.action == "update" and want is not None:
                osd = next(o for o in want.osds if o.key == key)
                self.add(
                    Kind.CEPH_OSD_SET, ch.address, Verb.SET, Phase.CEPH,
                    _params(P.CephOsdSet, {"osd_id": state.id if state else None, "device": device,
                                           "device_class": osd.device_class}),
                    node=node, depends_on=self.planned(mon_dep),
                )
        mgr_ids = [a.id for a in self.actions.values() if a.kind == Kind.CEPH_MGR_CREATE] or (
            [first_mon_dep] if first_mon_dep else [])
        for ch in self.changed("ceph", "pool"):
            name = str(ch.address.segments[1][1])
            pool = next((p for p in want.pools if p.name == name), None) if want else None
            if ch.action == "create" and pool is not None:
                self.add(Kind.CEPH_POOL_CREATE, ch.address, Verb.CREATE, Phase.CEPH,
                         _params(P.CephPoolCreate, {k: getattr(pool, k) for k in P.CephPoolCreate.model_fields}),
                         depends_on=self.planned(*osd_creates, *mgr_ids, mon_dep))
            elif ch.action == "update" and pool is not None:
                self.add(Kind.CEPH_POOL_SET, ch.address, Verb.SET, Phase.CEPH,
                         _update(P.CephPoolSet, ch, {"name": name}, pool), depends_on=self.planned(*osd_creates))
            elif ch.action == "delete":
                self.add(Kind.CEPH_POOL_DESTROY, ch.address, Verb.DESTROY, Phase.DESTROY_CEPH,
                         _params(P.CephPoolDestroy, {"name": name, "remove_storages": False}), reason=ch.reason)
        mds_ids = [a.id for a in self.actions.values() if a.kind == Kind.CEPH_MDS_CREATE]
        for ch in self.changed("ceph", "fs"):
            name = str(ch.address.segments[1][1])
            fs = next((f for f in want.filesystems if f.name == name), None) if want else None
            if ch.action == "create" and fs is not None and want is not None:
                self.add(Kind.CEPH_FS_CREATE, ch.address, Verb.CREATE, Phase.CEPH,
                         _params(P.CephFsCreate, {"name": fs.name, "pg_num": fs.pg_num, "add_storage": fs.add_storage}),
                         node=want.mdss[0] if want.mdss else None,
                         depends_on=self.planned(*mds_ids, *osd_creates, *mgr_ids), reason="needs a running MDS")
            elif ch.action == "delete":
                # Ceph's `fs rm` refuses while an MDS serves the file system; `ceph fs fail`
                # takes its ranks down and leaves the daemons as standbys (pveceph.adoc
                # "Destroy CephFS"). Its pools go with it unless the stack keeps them.
                failed = self.add(Kind.CEPH_FS_FAIL, ch.address, Verb.FAIL, Phase.DESTROY_CEPH,
                                  _params(P.CephFsFail, {"name": name}),
                                  reason="no MDS may serve a CephFS that is destroyed")
                kept = {p.name for p in want.pools} if want else set()
                self.add(Kind.CEPH_FS_DESTROY, ch.address, Verb.DESTROY, Phase.DESTROY_CEPH,
                         _params(P.CephFsDestroy, {"name": name, "remove_storages": False,
                                                   "remove_pools": not {f"{name}_data", f"{name}_metadata"} & kept}),
                         depends_on=[failed], reason=ch.reason)
        # MON removals last in Ceph teardown, one per step, never the last monitor.
        prev_destroy: ActionId | None = None
        for ch in self.changed("ceph", "mon"):
            if ch.action != "delete":
                continue
            node = str(ch.address.segments[1][1])
            prev_destroy = self.add(
                Kind.CEPH_MON_DESTROY, ch.address, Verb.DESTROY, Phase.DESTROY_CEPH,
                _params(P.CephMon, {"monid": node}), node=node,
                depends_on=self.planned(prev_destroy, *[a.id for a in self.actions.values()
                                                        if a.phase == Phase.DESTROY_CEPH
                                                        and a.kind != Kind.CEPH_MON_DESTROY]),
                reason="one monitor per step",
            )

    def storage(self) -> None:
        members = self.membership_ids()
        for ch in self.changed("storage"):
            name = str(ch.address.segments[0][1])
            want = self.desired.storage_by_name(name)
            remove_id: ActionId | None = None
            if ch.action in ("replace", "delete"):
                holds = sorted((ch.before or {}).get("content") or []) if ch.destructive else []
                remove_id = self.add(
                    Kind.STORAGE_REMOVE, ch.address, Verb.REMOVE,
                    Phase.STORAGE if ch.action == "replace" else Phase.DESTROY_STORAGE,
                    _params(P.StorageRemove, {"storage": name, "holds": holds}),
                    reason="storage.cfg entry only; volumes on it are not deleted but become unreachable",
                )
            if want is None:
                continue
            deps: list[ActionId | None] = [*members, remove_id]
            if want.type == "rbd":
                deps.append(aid(Address.of(("ceph", None), ("pool", want.pool)), Verb.CREATE))
            if want.type == "cephfs":
                deps.append(aid(Address.of(("ceph", None), ("fs", want.fs_name)), Verb.CREATE))
            if ch.action in ("create", "replace"):
                options, secrets = storage_options(want)
                self.add(Kind.STORAGE_ADD, ch.address, Verb.ADD, Phase.STORAGE,
                         _params(P.StorageAdd, {"storage": name, "type": want.type, "options": options,
                                                "secrets": secrets}),
                         depends_on=self.planned(*deps))
            elif ch.action == "update":
                fields = _changed_fields(ch)
                options, secrets = storage_options(want, fields)
                unset = sorted(set(storage_options(want, fields, unset=True)[0]))
                self.add(Kind.STORAGE_SET, ch.address, Verb.SET, Phase.STORAGE,
                         _params(P.StorageSet, {"storage": name, "options": options, "secrets": secrets,
                                                "delete": unset}),
                         depends_on=self.planned(*deps))

    def ha(self) -> None:
        members = self.membership_ids()
        dc = self.by_addr.get(str(datacenter_options.ADDRESS))
        if dc is not None:
            # after create/join: a join replaces the node's datacenter.cfg with the cluster's
            options, merge = datacenter_options.pve_options(self.desired, [f.path for f in dc.field_diffs])
            self.add(Kind.DATACENTER_OPTIONS_SET, dc.address, Verb.SET, Phase.HA_GROUPS,
                     _params(P.DatacenterOptionsSet, {"options": options, "merge": merge}), depends_on=members,
                     reason="datacenter.cfg through /cluster/options (options and sub-keys the stack does not "
                            "manage are kept)")
        add_nodes = ha_add_nodes([str(ch.address.segments[1][1]) for ch in self.changed("ha", "resource")
                                  if ch.action in ("create", "replace")], self.desired, self.observed, self.facts)
        for kind, key_name in (("group", "group"), ("resource", "sid"), ("rule", "rule")):
            add_kind, set_kind, remove_kind, phase, destroy_phase, add_model, set_model, remove_model = _HA[kind]
            for ch in self.changed("ha", kind):
                key = str(ch.address.segments[1][1])
                want = self._ha_object(kind, key)
                remove_id: ActionId | None = None
                if ch.action in ("delete", "replace"):
                    remove_id = self.add(
                        remove_kind, ch.address, Verb.REMOVE, phase if ch.action == "replace" else destroy_phase,
                        _params(remove_model, {key_name: key}), reason=ch.reason,
                    )
                if want is None or ch.action == "delete":
                    continue
                deps: list[ActionId | None] = [*members, remove_id]
                if kind == "resource" and getattr(want, "group", None):
                    deps.append(aid(Address.of(("ha", None), ("group", want.group)), Verb.ADD))
                if kind == "rule":
                    deps += [aid(Address.of(("ha", None), ("resource", sid)), Verb.ADD) for sid in want.resources]
                if ch.action in ("create", "replace"):
                    values = {key_name: key, **{k: getattr(want, k) for k in type(want).model_fields
                                                if k not in ("name", "sid") and getattr(want, k) is not None}}
                    if kind == "resource" and self.desired.pve_version == 8:
                        values.pop("failback", None)  # PVE 8 has no failback option
                    if kind == "rule" and want.type == "node-affinity" and values.get("affinity") == "positive":
                        values.pop("affinity")  # the default; ha-manager < 5.2.5 has no such option
                    self.add(add_kind, ch.address, Verb.ADD, phase, _params(add_model, values),
                             node=add_nodes.get(key) if kind == "resource" else None,
                             depends_on=self.planned(*deps))
                else:
                    ident: dict[str, Any] = {key_name: key}
                    if kind == "rule":
                        ident["type"] = want.type
                    params = _update(set_model, ch, ident, want)
                    if isinstance(params, P.HaRuleSet):
                        params = _rule_defaults_as_deletes(params)
                    self.add(set_kind, ch.address, Verb.SET, phase, params, depends_on=self.planned(*deps))

    def watchdogs(self) -> None:
        """`WATCHDOG_MODULE` of each node whose stack entry names one. No API shows the file,
        so discovery cannot compare it: every plan carries the check, which apply makes on
        the node (changing the file only where it differs) and which is no change of the plan."""
        for node in self.desired.nodes:
            if node.ha_watchdog_module is None:
                continue
            self.add(Kind.HA_WATCHDOG_SET, Address.of(("node", node.name)), Verb.ENSURE_WATCHDOG, Phase.HA_GROUPS,
                     _params(P.HaWatchdogSet, {"module": node.ha_watchdog_module}), node=node.name,
                     depends_on=self.planned(self.member_action(node.name)), changes=[],
                     reason="the API cannot show /etc/default/pve-ha-manager: apply checks it on the node")

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


def _rule_defaults_as_deletes(params: P.HaRuleSet) -> P.HaRuleSet:
    """PVE ignores `disable 0` on a rule (API2/HA/Rules.pm update_rule drops a false
    `disable` before it writes), so a disabled rule is enabled with `delete=disable`;
    a node-affinity rule goes back to positive with `delete=affinity` (the default)."""
    update: dict[str, Any] = {}
    delete = set(params.delete)
    if params.disable is False:
        update["disable"] = None
        delete.add("disable")
    if params.type == "node-affinity" and params.affinity == "positive":
        update["affinity"] = None
        delete.add("affinity")
    if not update:
        return params
    return params.model_copy(update={**update, "delete": sorted(delete)})


_HA: dict[str, tuple[Kind, Kind, Kind, Phase, Phase, type[P.Params], type[P.Params], type[P.Params]]] = {
    "group": (Kind.HA_GROUP_ADD, Kind.HA_GROUP_SET, Kind.HA_GROUP_REMOVE, Phase.HA_GROUPS, Phase.DESTROY_HA_GROUPS,
              P.HaGroupAdd, P.HaGroupSet, P.HaGroupRemove),
    "resource": (Kind.HA_RESOURCE_ADD, Kind.HA_RESOURCE_SET, Kind.HA_RESOURCE_REMOVE, Phase.HA_RESOURCES,
                 Phase.DESTROY_HA_RESOURCES, P.HaResourceAdd, P.HaResourceSet, P.HaResourceRemove),
    "rule": (Kind.HA_RULE_ADD, Kind.HA_RULE_SET, Kind.HA_RULE_REMOVE, Phase.HA_RULES, Phase.DESTROY_HA_RULES,
             P.HaRuleAdd, P.HaRuleSet, P.HaRuleRemove),
}


def _from_after(by_addr: dict[str, Change], kind: str, key: str) -> Any:
    """Objects diff synthesised (migrated group rules) exist only as views."""
    from provision.spec.ha import NodeAffinityRule

    change = by_addr.get(f'ha.{kind}["{key}"]')
    if change is None or change.after is None or kind != "rule":
        return None
    return NodeAffinityRule.model_validate({"name": key, **change.after})


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
    b.watchdogs()
    build_alert_actions(b, _params)
    return list(b.actions.values())


def _sort_key(action: Action) -> tuple[Any, ...]:
    # Inside a phase, ties are broken by the kind's rank (the sub-order of design.md:
    # Ceph init, MONs, MGRs, OSDs, pools, MDS, CephFS) and then by address.
    return (action.spec.rank, action.address, str(action.id))


def order_actions(actions: Sequence[Action]) -> list[Action]:
    """Cycle check, then a deterministic linear order: phases first, then a
    topological order inside each phase (ties by kind rank and address). A dependency
    on an action that is not in the list is an error: callers that filter actions
    (`select_targets`) keep every dependency of what they keep."""
    by_id = {a.id: a for a in actions}
    unknown = sorted({f"{a.id} -> {d}" for a in actions for d in a.depends_on if d not in by_id})
    if unknown:
        raise PlanError(f"internal error: dependencies on actions that are not in the plan: {', '.join(unknown)}")
    graph = {a.id: set(a.depends_on) for a in actions}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(str(i) for i in exc.args[1]) if len(exc.args) > 1 else "?"
        raise PlanError(f"dependency cycle between actions: {cycle}") from None
    for a in actions:
        for dep in graph[a.id]:
            if by_id[dep].phase.rank > a.phase.rank:
                raise PlanError(f"{a.id} (phase {a.phase}) depends on {dep} which runs later "
                                f"(phase {by_id[dep].phase})")
    ordered: list[Action] = []
    for phase in Phase:
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
    wanted = [a for a in actions if any(t.contains(_safe(c)) or t.contains(a.address)
                                        for t in targets for c in a.changes or [str(a.address)])]
    keep: set[ActionId] = set()
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
def replay_state(desired: Cluster, observed: Cluster, facts: Observed | None) -> Replay:
    """The cluster as the plan finds it (votes, members online, QDevice, MONs, OSDs per
    host), for the safety replay and for cutting network reloads into batches."""
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
    mons: dict[str, bool] = {}
    if facts and facts.mons:
        mons = {m.node: m.in_quorum for m in facts.mons}
    elif observed.ceph:
        mons = {m: True for m in observed.ceph.mons}
    osds: dict[str, int] = {}
    for osd in observed.ceph.osds if observed.ceph else []:
        osds[osd.node] = osds.get(osd.node, 0) + 1
    pools = [p.size for p in observed.ceph.pools] if observed.ceph else []
    return Replay(
        members=members, online=online, votes=votes, nodeids=nodeids,
        desired_votes={n.name: n.votes for n in desired.nodes},
        qdevice=QDevice(qd.algorithm, tie_breaker=qd.tie_breaker) if qd else None,
        mons=mons, osds_per_host=osds, pool_size=max(pools, default=0),
    )


def check_safety(actions: Sequence[Action], desired: Cluster, observed: Cluster, facts: Observed | None) -> None:
    """Replay the ordered actions (each kind's effect from the catalogue) against votes,
    MONs and OSD hosts; raise PlanError at the first step that would lose corosync
    quorum, the MON majority or a pool's redundancy."""
    state = replay_state(desired, observed, facts)
    for a in actions:
        effect = a.spec.effect
        if effect is None:
            continue
        try:
            effect(state, a, f"step {a.step} ({a.id})")
        except UnsafeStep as exc:
            raise PlanError(str(exc)) from None
