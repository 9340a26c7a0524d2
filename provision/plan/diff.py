"""Field-level difference between a desired and an observed `Cluster`.

Pure: `diff(desired, observed)` -> sorted `Change`s keyed by `Address`. Only
fields the spec manages are compared; both sides already carry normalised
defaults (the spec fills them in, discovery makes the server's defaults
explicit), so a field never written in a stack compares at its default and does
not churn. A few fields mean "whatever the cluster decides" when unset in the
stack (`auto`, e.g. a pool's pg_num, an OSD's device class) and are compared only
when set. Secrets are never compared and print as `(sensitive)`.

Objects that exist but are not in the stack are `unmanaged`; they become
deletes only where the prune scope covers them (`prune=True`: everywhere), and
vanish from the diff altogether where the stack's `ignore:` names them. Fields that cannot change after creation either
force a replace (destroy + create, e.g. an OSD's DB device) or, where a replace
would be absurd (a node id, the Ceph public network), fail with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, get_args

from pydantic import BaseModel

from provision.discover.observed import Observed
from provision.plan import datacenter as datacenter_options
from provision.plan.errors import PlanError
from provision.plan.prune import Prune
from provision.spec.addresses import Address
from provision.spec.cluster import Cluster
from provision.spec.ha import HaGroup, HaResource, NodeAffinityRule
from provision.spec.network import Bridge, Vlan
from provision.spec.secrets import SecretRef

ChangeAction = Literal["create", "update", "replace", "delete", "unmanaged", "noop-note"]
SENSITIVE = "(sensitive)"


@dataclass(frozen=True)
class FieldDiff:
    """One changed field: dotted path inside the object, old and new value."""

    path: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Change:
    """What must happen to one addressed object. `reason` is for humans only."""

    address: Address
    action: ChangeAction
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    field_diffs: tuple[FieldDiff, ...] = ()
    reason: str = ""
    destructive: bool = False
    not_compared: bool = False  # a noop-note saying this object could not be compared at all

    def to_json(self) -> dict[str, Any]:
        return {
            "address": str(self.address),
            "action": self.action,
            "before": self.before,
            "after": self.after,
            "field_diffs": [f.to_json() for f in self.field_diffs],
            "reason": self.reason,
            "destructive": self.destructive,
        }


def node_addr(name: str) -> Address:
    return Address.of(("node", name))


def iface_addr(node: str, kind: str, name: str) -> Address:
    return Address.of(("network", node), (kind, name))


def _plain(value: Any) -> Any:
    """JSON-able view; secret references print as `(sensitive)`."""
    if isinstance(value, SecretRef):
        return SENSITIVE
    if isinstance(value, BaseModel):
        return {k: _plain(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretRef or any(_holds_secret(a) for a in get_args(annotation))


@cache
def secret_fields(model_type: type[BaseModel]) -> frozenset[str]:
    """Fields typed as a `SecretRef`. Known by type, not by name: `corosync.token`
    is a timeout and must be compared, `connection.api.token` is a secret."""
    return frozenset(name for name, info in model_type.model_fields.items() if _holds_secret(info.annotation))


def view(model: BaseModel, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """A model as a plain dict of its fields; secret fields become `(sensitive)`
    whether set or not, so a plan never tells even whether a secret is present."""
    skip, secrets = set(exclude), secret_fields(type(model))
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        if name in skip:
            continue
        out[name] = SENSITIVE if name in secrets else _plain(getattr(model, name))
    return out


def compare(desired: Mapping[str, Any], observed: Mapping[str, Any], *, auto: Iterable[str] = (),
            ignore: Iterable[str] = (), prefix: str = "") -> list[FieldDiff]:
    """Field diffs between two views. `auto` fields are skipped when the desired
    value is None; `ignore` fields and secrets (`(sensitive)` on either side) are
    never compared."""
    auto_set, ignore_set = set(auto), set(ignore)
    out: list[FieldDiff] = []
    for key in sorted(set(desired) | set(observed)):
        if key in ignore_set:
            continue
        new, old = desired.get(key), observed.get(key)
        if SENSITIVE in (new, old):
            continue
        if key in auto_set and new is None:
            continue
        if new != old:
            out.append(FieldDiff(f"{prefix}{key}", old, new))
    return out


def is_clustered(observed: Cluster) -> bool:
    """Discovery gives a cluster that is not formed yet no name and no links."""
    return bool(observed.corosync.links) and bool(observed.name)


def cluster_members(observed: Cluster) -> set[str]:
    """Member node names (a standalone node carries node id 0)."""
    return {n.name for n in observed.nodes if n.nodeid >= 1} if is_clustered(observed) else set()


@dataclass
class _Differ:
    desired: Cluster
    observed: Cluster
    prune: Prune
    facts: Observed | None
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def clustered(self) -> bool:
        return is_clustered(self.observed)

    @property
    def members(self) -> set[str]:
        return cluster_members(self.observed)

    def add(self, change: Change) -> None:
        self.changes.append(change)

    def gone(self, address: Address, before: dict[str, Any], what: str, *, destructive: bool = False,
             prunable: bool = True) -> None:
        """An object only reality has: nothing when the stack ignores it, a delete when
        the prune scope covers it, else unmanaged."""
        if self.desired.ignores(address):
            return
        if prunable and self.prune.covers(address):
            self.add(Change(address, "delete", before=before,
                            reason=f"{what} is not in the stack ({self.prune.describe()})", destructive=destructive))
        else:
            why = f"{what} exists but is not in the stack" + ("; --prune deletes it" if prunable else "")
            self.add(Change(address, "unmanaged", before=before, reason=why, destructive=destructive))

    def collection(
        self,
        address: Callable[[str], Address],
        desired: Mapping[str, Any],
        observed: Mapping[str, Any],
        to_view: Callable[[Any], dict[str, Any]],
        what: str,
        *,
        auto: Iterable[str] = (),
        ignore: Iterable[str] = (),
        replace_on: Iterable[str] = (),
        cannot_change: Mapping[str, str] | None = None,
        destructive: Callable[[Any], bool] = lambda _: False,
        prunable: bool = True,
    ) -> None:
        """Create/update/replace/unmanaged for objects keyed by name."""
        replace_set = set(replace_on)
        for key in sorted(set(desired) | set(observed)):
            addr = address(key)
            if key not in observed:
                self.add(Change(addr, "create", after=to_view(desired[key]), reason=f"{what} does not exist"))
                continue
            if key not in desired:
                self.gone(addr, to_view(observed[key]), what, destructive=destructive(observed[key]),
                          prunable=prunable)
                continue
            if desired[key] == observed[key]:
                continue  # equal models have equal views: nothing to compare (most objects, most plans)
            before, after = to_view(observed[key]), to_view(desired[key])
            diffs = compare(after, before, auto=auto, ignore=ignore)
            if not diffs:
                continue
            blocked = [d for d in diffs if cannot_change and d.path in cannot_change]
            for d in blocked:
                assert cannot_change is not None
                self.errors.append(f"{addr}: {d.path} cannot change ({d.old!r} -> {d.new!r}): "
                                   f"{cannot_change[d.path]}")
            if blocked:
                continue
            forced = [d.path for d in diffs if d.path in replace_set]
            if forced:
                self.add(Change(addr, "replace", before=before, after=after, field_diffs=tuple(diffs),
                                reason=f"{', '.join(forced)} cannot change in place",
                                destructive=destructive(observed[key])))
            else:
                self.add(Change(addr, "update", before=before, after=after, field_diffs=tuple(diffs)))

    # -- areas ----------------------------------------------------------------
    def cluster(self) -> None:
        d, o = self.desired, self.observed
        addr = Address.of("cluster")
        if not self.clustered:
            self.add(Change(addr, "create", after={"name": d.name, "pve_version": d.pve_version},
                            reason="the nodes are not a cluster yet"))
        elif d.name != o.name:
            self.errors.append(f"cluster: the cluster is called {o.name!r} but the stack says {d.name!r}; "
                               "a cluster cannot be renamed (is this the right stack?)")
        version = self.facts.pve_version if self.facts and self.facts.pve_version else o.pve_version
        if version != d.pve_version:
            self.add(Change(addr, "noop-note", reason=f"the cluster runs PVE {version}, the stack says "
                                                      f"pve_version {d.pve_version}"))

    def nodes(self) -> None:
        members = self.members
        desired = {n.name: n for n in self.desired.nodes}
        observed = {n.name: n for n in self.observed.nodes if n.name in members}
        self.collection(
            node_addr, desired, observed,
            lambda n: {"nodeid": n.nodeid, "votes": n.votes, "address": str(n.address)},
            "node", ignore={"address"},
            cannot_change={
                "nodeid": "a node id is fixed at join; remove and re-join the node by hand",
                "votes": "quorum votes are fixed at join; edit corosync.conf by hand",
            },
            destructive=lambda _: True,
        )

    def network(self) -> None:
        observed_nodes = {n.name: n for n in self.observed.nodes}
        unreadable = self.facts.unreadable if self.facts else {}
        for node in self.desired.nodes:
            seen = observed_nodes.get(node.name)
            if seen is None or node.name in unreadable:
                why = unreadable.get(node.name, "it could not be read through the API")
                self.add(Change(Address.of(("network", node.name)), "noop-note",
                                reason=f"network of {node.name} is not compared: {why}", not_compared=True))
                continue
            desired = {i.name: i for i in node.interfaces if i.managed}
            unmanaged = {i.name for i in node.interfaces if not i.managed}
            observed = {
                i.name: i for i in seen.interfaces
                if i.name not in unmanaged and (i.name in desired or not _unconfigured_nic(i))
            }
            kinds = {name: i.type for name, i in {**observed, **desired}.items()}
            self.collection(
                lambda name, n=node.name, k=kinds: iface_addr(n, k[name], name),  # type: ignore[misc]
                desired, observed, _iface_view, "interface", replace_on={"type"},
            )

    def corosync(self) -> None:
        if not self.clustered:
            return  # cluster create/join carry the links
        members = self.members & set(self.desired.node_names)

        def link_view(link: Any) -> dict[str, Any]:
            return {"priority": link.priority,
                    "addresses": {k: str(v) for k, v in sorted(link.addresses.items()) if k in members}}

        self.collection(
            lambda n: Address.of(("corosync", None), ("link", int(n))),
            {str(k.number): k for k in self.desired.corosync.links},
            {str(k.number): k for k in self.observed.corosync.links},
            link_view, "corosync link",
        )
        totem_fields = ("crypto_cipher", "crypto_hash", "token", "token_coefficient")
        after = {k: getattr(self.desired.corosync, k) for k in totem_fields}
        before = {k: getattr(self.observed.corosync, k) for k in totem_fields}
        diffs = compare(after, before, auto={"token", "token_coefficient"})
        if diffs:
            self.add(Change(Address.of("corosync", "totem"), "update", before=before, after=after,
                            field_diffs=tuple(diffs)))

    def qdevice(self) -> None:
        want, have = self.desired.quorum.qdevice, self.observed.quorum.qdevice
        addr = Address.of("quorum", "qdevice")
        if want is None and have is None:
            return
        if have is None:
            self.add(Change(addr, "create", after=view(want) if want else None, reason="no QDevice configured"))
        elif want is None:
            self.gone(addr, view(have), "the QDevice")
        else:
            diffs = compare(view(want), view(have))
            if diffs:
                self.add(Change(addr, "replace", before=view(have), after=view(want), field_diffs=tuple(diffs),
                                reason="a QDevice is changed by removing and setting it up again"))

    def ceph(self) -> None:
        want, have = self.desired.ceph, self.observed.ceph
        root = Address.of("ceph")
        if want is None and have is None:
            return
        if want is None:
            assert have is not None
            if self.desired.ignores(root):
                return
            self.add(Change(root, "unmanaged", before=view(have, exclude=("osds", "pools", "filesystems")),
                            reason="Ceph is initialised but not in the stack; pve-provision never purges Ceph"))
            return
        nets = ("public_network", "cluster_network")
        if have is None:
            self.add(Change(root, "create", after={k: _plain(getattr(want, k)) for k in nets},
                            reason="Ceph is not initialised"))
            empty: dict[str, Any] = {}
            have_mons = have_mgrs = have_mdss = have_osds = have_pools = have_fs = empty
        else:
            known = self.facts.ceph_networks_known if self.facts else True
            if not known:
                self.add(Change(root, "noop-note", reason="ceph.conf could not be read: public_network and "
                                                          "cluster_network are not compared", not_compared=True))
            for net in nets if known else ():
                old, new = _ceph_network(have, net), _ceph_network(want, net)
                if old != new:
                    self.errors.append(f"ceph: {net} cannot change ({old} -> {new}): Ceph daemons bind to it; "
                                       "migrate by hand")
            have_mons = {n: n for n in have.mons}
            have_mgrs = {n: n for n in have.mgrs}
            have_mdss = {n: n for n in have.mdss}
            have_osds = {o.key: o for o in have.osds}
            have_pools = {p.name: p for p in have.pools}
            have_fs = {f.name: f for f in have.filesystems}
        for kind, wanted, present, destructive in (
            ("mon", want.mons, have_mons, True), ("mgr", want.mgrs, have_mgrs, False),
            ("mds", want.mdss, have_mdss, False),
        ):
            self.collection(lambda k, kind=kind: Address.of("ceph", (kind, k)),  # type: ignore[misc]
                            {n: n for n in wanted}, present, lambda n: {"node": n}, f"ceph {kind}",
                            destructive=lambda _, d=destructive: d)  # type: ignore[misc]
        self.collection(
            lambda k: Address.of("ceph", ("osd", k)), {o.key: o for o in want.osds}, have_osds,
            lambda o: view(o), "OSD",
            auto={"device_class"},
            # db/wal placement and encryption are decided when the OSD is made
            replace_on={"db_device", "wal_device"}, ignore={"db_size_gib", "encrypted"},
            destructive=lambda _: True,
        )
        fs_pools = {f"{f.name}_{s}" for f in [*want.filesystems, *(have_fs.values())] for s in ("data", "metadata")}
        present_pools = {k: v for k, v in have_pools.items() if k not in fs_pools}
        self.collection(
            lambda k: Address.of("ceph", ("pool", k)),
            # The autoscaler owns an existing pool's pg_num when it is on: compare it as `auto`
            # (a stack's pg_num then only seeds the pool at creation).
            {p.name: p.model_copy(update={"pg_num": None})
             if p.name in present_pools and p.pg_autoscale_mode == "on" else p for p in want.pools},
            present_pools,
            lambda p: view(p), "pool",
            auto={"pg_num"},
            ignore={"add_storage"},  # creation-only: the RBD storage it makes is compared as a storage
            destructive=lambda _: True,
        )
        self.collection(
            lambda k: Address.of("ceph", ("fs", k)), {f.name: f for f in want.filesystems}, have_fs,
            lambda f: view(f), "CephFS", ignore={"pg_num", "add_storage"},  # creation-only
            destructive=lambda _: True,
        )

    def storage(self) -> None:
        self.collection(
            lambda k: Address.of(("storage", k)),
            {s.name: s for s in self.desired.storage},
            {s.name: s for s in self.observed.storage},
            _storage_view, "storage",
            replace_on={"type", *_FIXED_STORAGE_KEYS},
            destructive=lambda s: bool(s.content),
        )

    def ha(self) -> None:
        desired_ha = self.desired.ha
        groups = list(desired_ha.groups)
        rules = list(desired_ha.rules)
        resources = list(desired_ha.resources)
        migrated = (self.facts.ha_groups_migrated if self.facts else False) or (
            (self.facts.pve_version if self.facts else self.observed.pve_version) == 9
            and not self.observed.ha.groups and bool(groups)
        )
        if migrated and groups:
            groups, rules, resources = _as_migrated(groups, rules, resources, self.add)
        self.collection(
            lambda k: Address.of(("ha", None), ("group", k)), {g.name: g for g in groups},
            {g.name: g for g in self.observed.ha.groups}, lambda g: view(g, exclude=("name",)), "HA group",
        )
        self.collection(
            lambda k: Address.of(("ha", None), ("rule", k)), {r.name: r for r in rules},
            {r.name: r for r in self.observed.ha.rules}, lambda r: _rule_view(r), "HA rule",
            replace_on={"type"},
        )
        self.collection(
            lambda k: Address.of(("ha", None), ("resource", k)), {r.sid: r for r in resources},
            {r.sid: r for r in self.observed.ha.resources}, lambda r: view(r, exclude=("sid",)), "HA resource",
        )

    def datacenter(self) -> None:
        """datacenter.cfg (`provision.plan.datacenter`): one update of every managed option
        that differs. Not compared when /cluster/options could not be read: an unread option
        is not PVE's default."""
        addr = datacenter_options.ADDRESS
        if self.facts is not None and not self.facts.options_known:
            self.add(Change(addr, "noop-note", reason="datacenter.cfg (ha.crs, ha policy, datacenter) is not "
                                                      "compared: /cluster/options could not be read",
                            not_compared=True))
            return
        after = datacenter_options.wanted(self.desired)
        before = datacenter_options.current(self.observed, list(after))
        diffs = compare(after, before)
        if diffs:
            self.add(Change(addr, "update", before=before, after=after, field_diffs=tuple(diffs)))


# -- views and helpers ----------------------------------------------------------------
_FIXED_STORAGE_KEYS = frozenset({"server", "export", "path", "vgname", "thinpool", "datastore", "portal",
                                 "target", "fs_name"})
_PATH_DEFAULT_TYPES = frozenset({"nfs", "cephfs", "cifs"})


def _ceph_network(ceph: Any, net: str) -> Any:
    """The network daemons bind to: an unset cluster network is the public one
    (what `pveceph init` writes), so stating it equal is no change."""
    value = getattr(ceph, net)
    if net == "cluster_network" and value is None:
        value = ceph.public_network
    return _plain(value)


def _unconfigured_nic(iface: Any) -> bool:
    """A physical port with nothing configured is hardware, not configuration."""
    return bool(
        iface.type == "nic" and iface.address is None and iface.mtu in (None, 1500) and iface.comment is None
    )


def _iface_view(iface: Any) -> dict[str, Any]:
    out = view(iface)
    out["mtu"] = iface.effective_mtu  # unset == the kernel default (1500)
    if isinstance(iface, Bridge) and not iface.vlan_aware:
        out.pop("vids", None)  # bridge-vids only exists on VLAN-aware bridges
    if isinstance(iface, Vlan):
        out["raw_device"], out["tag"] = iface.raw_device, iface.tag
    for key in ("slaves", "ports"):
        if key in out:
            out[key] = sorted(out[key])
    return out


def _storage_view(storage: Any) -> dict[str, Any]:
    out = view(storage, exclude=("name",))
    if storage.type in _PATH_DEFAULT_TYPES and out.get("path") is None:
        out["path"] = f"/mnt/pve/{storage.name}"  # PVE's mount point default
    return out


def _rule_view(rule: Any) -> dict[str, Any]:
    out = view(rule, exclude=("name",))
    out["resources"] = sorted(out["resources"])
    return out


def _as_migrated(
    groups: list[HaGroup], rules: list[Any], resources: list[HaResource], note: Callable[[Change], None]
) -> tuple[list[HaGroup], list[Any], list[HaResource]]:
    """Express PVE 8 groups the way PVE 9 migrated them (pve-facts 4.4): a
    node-affinity rule `ha-group-<g>` per referenced group, resources without
    `group` and with `failback = not nofailback`. Unreferenced groups vanish."""
    by_name = {g.name: g for g in groups}
    new_rules = list(rules)
    for group in groups:
        sids = sorted(r.sid for r in resources if r.group == group.name)
        addr = Address.of(("ha", None), ("group", group.name))
        if not sids:
            note(Change(addr, "noop-note", reason=f"PVE 9 drops HA group {group.name!r}: no resource uses it"))
            continue
        new_rules.append(NodeAffinityRule(
            type="node-affinity", name=f"ha-group-{group.name}", resources=sids, nodes=group.nodes,
            strict=group.restricted, comment=group.comment or f"Generated from HA group '{group.name}'.",
        ))
        note(Change(addr, "noop-note", reason=f"PVE 9 migrated HA group {group.name!r} to node-affinity rule "
                                              f"'ha-group-{group.name}'; compared as that rule (move the stack "
                                              "to HA rules to drop this note)"))
    new_resources = []
    for res in resources:
        if res.group and res.group in by_name:
            res = res.model_copy(update={"group": None, "failback": not by_name[res.group].nofailback})
        new_resources.append(res)
    return [], new_rules, new_resources


def diff_alerts(d: _Differ) -> None:
    """Notifications and backup jobs (`provision.plan.diff_alerts`)."""
    from provision.plan.diff_alerts import diff_alerts as run

    run(d)


def diff(desired: Cluster, observed: Cluster, *, prune: bool | Prune = False,
         facts: Observed | None = None) -> list[Change]:
    """All changes that turn `observed` into `desired`, sorted by address.

    `facts` (from discovery) says which nodes could not be read and which PVE
    version runs; without it, membership is inferred from the observed model
    (node id 0 = not a member). Raises PlanError listing every impossible change.
    """
    d = _Differ(desired, observed, Prune.of(prune), facts)
    d.cluster()
    d.nodes()
    d.network()
    d.corosync()
    d.qdevice()
    d.ceph()
    d.storage()
    d.ha()
    d.datacenter()
    diff_alerts(d)
    if d.errors:
        raise PlanError(sorted(d.errors))
    order = {"noop-note": 1}
    return sorted(d.changes, key=lambda c: (c.address, order.get(c.action, 0)))
