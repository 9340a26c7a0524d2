"""Every rule fires on a small, deliberate change to an example stack, and points at
the right place in the YAML.

Each case is (rule id, base stack, change, address the finding must point at). The
change edits the loaded YAML data; the variant then goes through the real loader, so
a case also proves that the variant is otherwise a valid stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import stack_variants as sv
from ruamel.yaml.comments import CommentedMap

from provision.rules import all_rules, run
from provision.spec import LoadedStack


@dataclass(frozen=True)
class Case:
    rule: str
    base: str
    change: Callable[[Any], None]
    address: str
    contains: str = ""
    id: str = ""


def _set(path: Callable[[Any], Any], key: str, value: Any) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        path(tree)[key] = value

    return change


def _all(*changes: Callable[[Any], None]) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        for c in changes:
            c(tree)

    return change


def _qdevice(**fields: Any) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        tree["quorum"] = CommentedMap({"qdevice": CommentedMap(fields)})

    return change


def _datacenter(**fields: Any) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        tree["datacenter"] = CommentedMap({k: CommentedMap(v) for k, v in fields.items()})

    return change


def _drop(name: str) -> Callable[[Any], None]:
    return lambda t: sv.drop_node(t, name)


def _bond_mode(node: str, mode: str) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        bond = sv.iface(tree, node, "bond0")
        bond["mode"] = mode
        del bond["primary"]

    return change


def _remove_link(number: int) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        tree["corosync"]["links"] = [lk for lk in tree["corosync"]["links"] if lk["number"] != number]

    return change


def _link(number: int, **fields: Any) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        link = next(lk for lk in tree["corosync"]["links"] if lk["number"] == number)
        link.update(fields)

    return change


def _remove_osds(node: str, device: str | None = None) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        tree["ceph"]["osds"] = [
            o for o in tree["ceph"]["osds"] if not (o["node"] == node and device in (None, o["device"]))
        ]

    return change


def _add_rule(**fields: Any) -> Callable[[Any], None]:
    return lambda t: t["ha"]["rules"].append(CommentedMap(fields))


def _add_resources(count: int) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        sids = [f"vm:{130 + i}" for i in range(count)]
        for i, sid in enumerate(sids):
            sv.add_resource(tree, sid, f"pve0{i % 5 + 1}")
        sv.rule(tree, "db-apart")["resources"] = ["vm:110", "vm:111", *sids]

    return change


def _jobs(*jobs: dict[str, Any]) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        tree["backups"] = CommentedMap({"jobs": [CommentedMap(j) for j in jobs]})

    return change


def _notifications(*matchers: dict[str, Any]) -> Callable[[Any], None]:
    def change(tree: Any) -> None:
        tree["notifications"] = CommentedMap({"matchers": [CommentedMap(m) for m in matchers]})

    return change


CASES = [
    # -- quorum
    Case("PVE-Q001", "lab", _drop("pve03"), "nodes", "2 vote(s)"),
    Case("PVE-Q002", "pve9", _drop("pve05"), "nodes", "4 votes"),
    Case("PVE-Q003", "lab", _qdevice(host="192.168.10.5", algorithm="lms"), "quorum.qdevice", "lms"),
    Case("PVE-Q005", "pve9", _all(_drop("pve05"), _qdevice(host="10.40.0.12")), "quorum.qdevice.host", "pve02"),
    Case("PVE-Q006", "lab", _set(lambda t: sv.node(t, "pve01"), "votes", 2), 'nodes["pve01"].votes'),
    Case("PVE-Q007", "pve9", _all(_drop("pve05"), _qdevice(host="192.168.20.5", tie_breaker=2)),
         "quorum.qdevice.tie_breaker", "lowest"),
    # -- network
    Case("PVE-N001", "lab", _set(lambda t: sv.iface(t, "pve02", "bond1.20"), "mtu", 1500),
         'nodes["pve02"].interfaces["bond1.20"].mtu', "9000"),
    Case("PVE-N001", "lab", _all(lambda t: sv.iface(t, "pve03", "bond1").pop("mtu"),
                                 lambda t: sv.iface(t, "pve03", "bond1.20").pop("mtu"),
                                 lambda t: sv.iface(t, "pve03", "bond1.30").pop("mtu")),
         'nodes["pve03"].interfaces["bond1.30"]', "pve03/bond1.30 has MTU 1500", id="inherited"),
    Case("PVE-N002", "lab", _set(lambda t: sv.iface(t, "pve01", "vmbr0"), "address", "192.168.10.21/24"),
         'nodes["pve01"].address', "192.168.10.11"),
    Case("PVE-N003", "lab",
         lambda t: sv.node(t, "pve01")["interfaces"].append(
             CommentedMap({"name": "eno5", "type": "nic", "address": "10.10.10.21/24"})),
         'nodes["pve01"].interfaces["eno5"].address', "bond0"),
    Case("PVE-N004", "lab", _set(lambda t: sv.iface(t, "pve01", "bond0"), "slaves", ["eno2"]),
         'nodes["pve01"].interfaces["bond0"].slaves'),
    # -- corosync
    Case("PVE-C001", "lab", _remove_link(0), "corosync.links[1]", "eno4"),
    Case("PVE-C002", "lab", _link(0, network="10.20.20.0/24"), "corosync.links[0]", "public network"),
    Case("PVE-C002", "lab", _all(lambda t: sv.add_vlan_everywhere(t, "bond1.40", "10.40.40"),
                                 _link(0, network="10.40.40.0/24")),
         "corosync.links[0]", "share enp65s0f0", id="same-ports"),
    Case("PVE-C003", "lab", _link(0, network="192.168.10.0/24"), "corosync.links[0]", "bridge vmbr0"),
    Case("PVE-C003", "lab", _all(lambda t: sv.add_vlan_everywhere(t, "eno1.60", "10.60.60"),
                                 _link(0, network="10.60.60.0/24")),
         "corosync.links[0]", "eno1, which also carries a guest bridge", id="bridge-port"),
    Case("PVE-C004", "lab", _link(1, network="10.10.10.0/24"), "corosync.links[1].network", "overlapping"),
    Case("PVE-C004", "lab", _all(lambda t: sv.add_vlan_everywhere(t, "bond0.50", "10.50.50"),
                                 _link(1, network="10.50.50.0/24")),
         "corosync.links[1]", "share eno2, eno3", id="same-ports"),
    Case("PVE-C005", "lab", _bond_mode("pve01", "balance-rr"), 'nodes["pve01"].interfaces["bond0"].mode',
         "balance-rr"),
    Case("PVE-C005", "lab", _bond_mode("pve03", "balance-alb"), 'nodes["pve03"].interfaces["bond0"].mode',
         id="alb"),
    Case("PVE-C006", "lab", _bond_mode("pve02", "802.3ad"), 'nodes["pve02"].interfaces["bond0"]', "90 s"),
    Case("PVE-C007", "lab", _all(_set(lambda t: t["corosync"], "crypto_cipher", "none"),
                                 _set(lambda t: t["corosync"], "crypto_hash", "none")),
         "corosync.crypto_cipher", "readable"),
    Case("PVE-C008", "lab", _set(lambda t: t["corosync"], "crypto_hash", "none"), "corosync.crypto_hash"),
    # -- ceph
    Case("PVE-CEPH001", "lab", _set(lambda t: t["ceph"], "mons", ["pve01", "pve02"]), "ceph.mons",
         "the same as 1"),
    Case("PVE-CEPH002", "pve9", _all(lambda t: sv.add_node(t, "pve05", "pve06", 6),
                                     _set(lambda t: t["ceph"], "mons",
                                          ["pve01", "pve02", "pve03", "pve04", "pve05", "pve06"])),
         "ceph.mons", "6 monitors"),
    Case("PVE-CEPH003", "lab", _set(lambda t: t["ceph"], "mgrs", ["pve01"]), "ceph.mgrs"),
    Case("PVE-CEPH004", "lab", _all(_set(sv.pool, "size", 2), _set(sv.pool, "min_size", 1)),
         'ceph.pools["vm-pool"].size', "2 replica"),
    Case("PVE-CEPH005", "lab", _set(sv.pool, "min_size", 1), 'ceph.pools["vm-pool"].min_size'),
    Case("PVE-CEPH006", "lab", _set(sv.pool, "min_size", 3), 'ceph.pools["vm-pool"].min_size'),
    Case("PVE-CEPH007", "lab", _remove_osds("pve03"), 'ceph.pools["vm-pool"].size', "undersized"),
    Case("PVE-CEPH008", "lab", _set(lambda t: sv.osd(t, "pve01", "/dev/sdb"), "db_device", "/dev/sdc"),
         'ceph.osds["pve01:/dev/sdb"].db_device', "pve01:/dev/sdc"),
    Case("PVE-CEPH009", "lab", _all(_set(lambda t: sv.osd(t, "pve02", "/dev/sdb"), "db_device", "/dev/nvme0n1"),
                                    _set(lambda t: sv.osd(t, "pve02", "/dev/sdc"), "db_device", "/dev/nvme0n1")),
         'ceph.osds["pve02:/dev/sdb"].db_device', "2 OSDs"),
    Case("PVE-CEPH010", "lab", lambda t: t["ceph"].pop("cluster_network"), "ceph.public_network"),
    Case("PVE-CEPH010", "lab", _set(lambda t: t["ceph"], "cluster_network", "10.20.20.0/24"),
         "ceph.cluster_network", id="equal"),
    Case("PVE-CEPH011", "lab", lambda t: t["ceph"].pop("mdss"), "ceph.filesystems"),
    Case("PVE-CEPH012", "lab", lambda t: sv.remove_iface(t, "pve03", "bond1.30"),
         'ceph.osds["pve03:/dev/sdb"].node', "cluster network"),
    Case("PVE-CEPH013", "pve9", _set(lambda t: t["ceph"], "mgrs", ["pve01", "pve02", "pve04"]), "ceph.mgrs[2]",
         "pve04"),
    Case("PVE-CEPH014", "lab", _remove_osds("pve03", "/dev/sdg"), "ceph.osds", "pve03: 5"),
    Case("PVE-CEPH015", "lab", lambda t: t["ceph"].update(mdss=["pve01"]), "ceph.mdss", "only pve01"),
    Case("PVE-CEPH015", "lab", lambda t: t["ceph"].update(mdss=["pve01"]), "ceph.mdss", "only pve01"),
    # -- storage
    Case("PVE-S001", "lab", lambda t: sv.remove_storage(t, "ceph-vm"), "ha.resources"),
    Case("PVE-S002", "lab", _set(lambda t: sv.storage(t, "cephfs"), "content", ["iso", "images"]),
         'storage["cephfs"].content', "images"),
    Case("PVE-S003", "lab", _all(lambda t: sv.remove_storage(t, "pbs-backup"),
                                 _set(lambda t: sv.storage(t, "local"), "content", ["iso"])), "storage"),
    Case("PVE-S004", "lab", lambda t: sv.remove_storage(t, "pbs-backup"), 'storage["local"].content'),
    Case("PVE-S005", "lab", _set(sv.pool, "application", "cephfs"), 'storage["ceph-vm"].pool', "cephfs"),
    # -- HA
    Case("PVE-HA001", "lab", _drop("pve03"), "ha.resources", "2 node(s)"),
    Case("PVE-HA003", "lab", _set(lambda t: sv.group(t, "db"), "nodes", CommentedMap({"pve03": 2})),
         'ha.groups["db"].nodes', "pve03"),
    Case("PVE-HA003", "pve9", _set(lambda t: sv.rule(t, "licensed"), "nodes", CommentedMap({"pve05": 1})),
         'ha.rules["licensed"].nodes', "strict rule licensed", id="rule"),
    Case("PVE-HA004", "lab", lambda t: sv.add_resource(t, "vm:103", "pve02"), 'ha.resources["vm:103"]'),
    Case("PVE-HA004", "lab", _all(lambda t: t["ha"].pop("groups"),
                                  lambda t: [r.pop("group") for r in t["ha"]["resources"]]),
         "ha.resources", "no HA group or rule: 4 resources", id="no-placement-at-all"),
    Case("PVE-HA005", "pve9", _add_resources(4), 'ha.rules["db-apart"].resources',
         "rule defines more resources than available nodes"),
    Case("PVE-HA006", "pve9", _add_rule(type="node-affinity", name="db-pin", resources=["vm:110", "vm:111"],
                                        nodes=CommentedMap({"pve03": 1}), strict=True),
         'ha.rules["db-apart"].resources', "restricted to less nodes than available"),
    Case("PVE-HA007", "pve9", _add_rule(type="resource-affinity", name="db-together",
                                        resources=["vm:110", "vm:111"], affinity="positive"),
         'ha.rules["db-together"].resources', "shares two or more resources with a negative"),
    Case("PVE-HA008", "pve9", _add_rule(type="resource-affinity", name="web-together",
                                        resources=["vm:100", "vm:101"], affinity="positive"),
         'ha.rules["web-prefer"].resources', "cannot be in a node affinity rule with multiple priorities"),
    Case("PVE-HA009", "pve9", _add_rule(type="resource-affinity", name="web-erp",
                                        resources=["vm:100", "vm:120"], affinity="positive"),
         'ha.rules["web-erp"].resources', "resources are in multiple node affinity rules"),
    Case("PVE-HA030", "pve9", _add_rule(type="node-affinity", name="not-anywhere", resources=["vm:120"],
                                        nodes=CommentedMap({f"pve0{n}": 0 for n in range(1, 6)}),
                                        affinity="negative"),
         'ha.rules["not-anywhere"].nodes', "negative node affinity rule must not specify all cluster nodes"),
    Case("PVE-HA030", "pve9", _add_rule(type="node-affinity", name="web-again", resources=["vm:100"],
                                        nodes=CommentedMap({"pve03": 0})),
         'ha.rules["web-again"].resources', "resource 'vm:100' is already used in another node affinity rule",
         id="two-node-rules"),
    Case("PVE-HA010", "lab", lambda t: sv.node(t, "pve02").pop("capacity"), 'nodes["pve02"]'),
    Case("PVE-HA011", "lab", _set(lambda t: sv.guest(t, "vm:100"), "memory_mib", 300000),
         "ha.resources", "262144 MiB"),
    Case("PVE-HA012", "lab", _set(lambda t: sv.guest(t, "vm:102"), "node", "pve01"),
         'ha.resources["vm:102"]', "outside group db"),
    Case("PVE-HA012", "lab", _set(lambda t: sv.guest(t, "vm:100"), "node", "pve03"),
         'ha.resources["vm:100"]', "prefers pve01, pve02", id="failback"),
    # -- HA policy (issue 15)
    Case("PVE-HA020", "lab", _set(lambda t: t["ha"], "shutdown_policy", "freeze"), "ha.shutdown_policy",
         "4 started"),
    Case("PVE-HA021", "lab", _set(lambda t: t["ha"], "shutdown_policy", "conditional"), "ha.shutdown_policy"),
    Case("PVE-HA022", "lab", _set(lambda t: t["ha"], "shutdown_policy", "migrate"), "ha.shutdown_policy"),
    Case("PVE-HA023", "lab", _datacenter(migration={"type": "insecure"}), "datacenter.migration.type"),
    Case("PVE-HA023", "lab", _datacenter(migration={"type": "insecure", "network": "10.10.10.0/24"}),
         "datacenter.migration.network", "corosync link 0", id="shared"),
    Case("PVE-HA024", "lab", _datacenter(migration={"network": "10.99.0.0/24"}), "datacenter.migration.network",
         "pve01, pve02, pve03"),
    Case("PVE-HA025", "lab", _all(_set(lambda t: t["ha"], "crs", "static"),
                                  lambda t: sv.node(t, "pve02").pop("capacity")), "ha.crs", "pve02"),
    Case("PVE-HA026", "lab", _set(lambda t: sv.node(t, "pve03"), "ha_watchdog_module", "softdog"),
         'nodes["pve03"].ha_watchdog_module', "pve03 fences with softdog"),
    # -- backups and alerts (the lab stack declares neither: each case adds what it needs)
    Case("PVE-B001", "lab", _jobs({"id": "web", "schedule": "daily", "storage": "pbs-backup", "all": True,
                                   "exclude": [102]}), 'ha.resources["vm:102"].sid', "vm:102"),
    Case("PVE-B001", "lab", _jobs({"id": "web", "schedule": "daily", "storage": "pbs-backup",
                                   "vmids": [100, 101, 102, 200], "enabled": False}),
         'ha.resources["vm:100"].sid', id="disabled-job"),
    Case("PVE-B002", "lab", _jobs({"id": "local", "schedule": "daily", "storage": "local", "all": True}),
         'storage["pbs-backup"].name', "pbs-backup"),
    Case("PVE-B003", "lab", _notifications({"name": "default-matcher", "match_field": ["exact:type=vzdump"],
                                            "target": ["mail-to-root"]},
                                           {"name": "not-fencing", "match_field": ["exact:type=fencing"],
                                            "invert_match": True, "target": ["mail-to-root"]}),
         "notifications.matchers", "fencing"),
]


def _case_id(case: Case) -> str:
    return case.rule + (f"-{case.id}" if case.id else "")


def _findings(stack: LoadedStack, rule_id: str) -> list[tuple[str, str]]:
    return [(stack.address(f.loc), f.message) for f in run(stack.cluster) if f.rule_id == rule_id]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rule_fires_at_the_right_place(case: Case) -> None:
    stack = sv.variant(case.base, case.change)
    hits = _findings(stack, case.rule)
    assert hits, f"{case.rule} did not fire"
    assert case.address in [a for a, _ in hits], hits
    if case.contains:
        assert any(case.contains in m for a, m in hits if a == case.address), hits


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rule_is_quiet_on_the_unchanged_base(case: Case) -> None:
    # The other half of each case: without the change, the same rule says nothing.
    stack = sv.variant(case.base, lambda t: None)
    assert _findings(stack, case.rule) == []


def test_every_rule_has_a_firing_case() -> None:
    covered = {c.rule for c in CASES} | {"PVE-HA002"}  # HA002 needs unknown nodes: see test_rules_model.py
    assert covered == {r.id for r in all_rules()}


def test_positions_come_from_the_yaml() -> None:
    stack = sv.variant("lab", _set(sv.pool, "min_size", 1))
    (finding,) = [f for f in run(stack.cluster) if f.rule_id == "PVE-CEPH005"]
    line, col = stack.position(finding.loc)
    text = sv.variant_text("lab", _set(sv.pool, "min_size", 1)).splitlines()[line - 1]
    assert text[col - 1:].startswith("min_size: 1")
