"""``lab up --from STACK`` builds what the stack describes, through the lab's own handlers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from labkit import LabHandle, start_lab, stop_lab

from provision.spec import Bond, load_stack

STACK = Path(__file__).resolve().parents[2] / "stacks" / "lab.yaml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    handle = start_lab(tmp_path_factory.mktemp("home"), "s", "--from", str(STACK))
    try:
        yield handle
    finally:
        stop_lab(handle)


def test_lab_matches_the_stack(lab: LabHandle) -> None:
    spec = load_stack(STACK).cluster
    assert lab.conn["nodes"] == spec.node_names and lab.conn["pve_version"] == spec.pve_version
    status = lab.get("/cluster/status")
    assert status[0]["name"] == spec.name and status[0]["quorate"] == 1 and status[0]["nodes"] == len(spec.nodes)
    cfg = {n["node"]: n for n in lab.get("/cluster/config/nodes")}
    for node in spec.nodes:
        assert cfg[node.name]["nodeid"] == str(node.nodeid)
        for link in spec.corosync.links:
            assert cfg[node.name][f"ring{link.number}_addr"] == str(link.addresses[node.name])
    assert set(lab.get("/cluster/config/totem")["interface"]) == {str(x.number) for x in spec.corosync.links}
    node = spec.nodes[0]
    net = {i["iface"]: i for i in lab.get(f"/nodes/{node.name}/network")}
    for iface in node.interfaces:
        assert iface.name in net, iface.name
        if iface.address is not None:
            assert net[iface.name]["cidr"] == str(iface.address)
        if isinstance(iface, Bond):
            assert net[iface.name]["bond_mode"] == iface.mode
    assert spec.ceph is not None
    pools = {p["pool_name"] for p in lab.get(f"/nodes/{node.name}/ceph/pool")}
    assert {p.name for p in spec.ceph.pools} <= pools
    osds = lab.get(f"/nodes/{node.name}/ceph/osd")["root"]["children"][0]["children"]
    # MGR and MDS daemons bind in Ceph's public network, like the MONs
    public = ipaddress.ip_network(str(spec.ceph.public_network))
    for kind in ("mon", "mgr", "mds"):
        for d in lab.get(f"/nodes/{node.name}/ceph/{kind}"):
            assert ipaddress.ip_address(d["addr"].split(":")[0]) in public, (kind, d)
    assert sum(len(h["children"]) for h in osds) == len(spec.ceph.osds)
    assert {s.name for s in spec.storage} <= {s["storage"] for s in lab.get("/storage")}
    assert {r.sid for r in spec.ha.resources} == {r["sid"] for r in lab.get("/cluster/ha/resources")}
    assert {g.name for g in spec.ha.groups} == {g["group"] for g in lab.get("/cluster/ha/groups")}


def test_blank_from_a_stack_is_its_machines_freshly_installed(tmp_path: Path) -> None:
    """``lab up --blank --from STACK``: the stack's nodes, NICs, disks and guests, with
    nothing configured (what a full build of a large synthetic stack starts from)."""
    spec = load_stack(STACK).cluster
    lab = start_lab(tmp_path, "b", "--blank", "--from", str(STACK))
    try:
        assert lab.conn["nodes"] == spec.node_names
        node = spec.nodes[0].name
        status = lab.get("/cluster/status", as_node=node)
        assert not [e for e in status if e["type"] == "cluster"]  # standalone, as installed
        nics = {i["iface"] for i in lab.get(f"/nodes/{node}/network", as_node=node) if i["type"] == "eth"}
        assert {i.name for i in spec.nodes[0].interfaces if i.type == "nic"} <= nics
        assert spec.ceph is not None
        disks = {d["devpath"] for d in lab.get(f"/nodes/{node}/disks/list", as_node=node)}
        assert {o.device for o in spec.ceph.osds if o.node == node} <= disks
        assert lab.get("/cluster/ha/resources", as_node=node) == []
        vmids = {str(g["vmid"]) for g in lab.get(f"/nodes/{node}/qemu", as_node=node)}
        assert {g.sid.split(":")[1] for g in spec.guests if g.node == node and g.sid.startswith("vm:")} <= vmids
    finally:
        stop_lab(lab)
