"""Build variants of the example stacks by editing their YAML data in code.

A variant is `stacks/lab.yaml` (or `pve9-example.yaml`) loaded as round-trip YAML,
changed by a small function and loaded again through the real loader, so positions
and addresses of findings are real. Variants the loader would reject (e.g. nodes
that do not exist, which only a discovered cluster can contain) go through
`model_variant`, which validates the model without the cross-checks.
"""

from __future__ import annotations

import copy
import io
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from provision.spec import Cluster, LoadedStack, load_text

STACKS = Path(__file__).resolve().parents[2] / "stacks"
EXAMPLES = {"lab": STACKS / "lab.yaml", "pve9": STACKS / "pve9-example.yaml"}

Mutate = Callable[[Any], None]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.width = 4096
    return yaml


def data(name: str) -> Any:
    """The example stack `name` ("lab" or "pve9") as editable YAML data."""
    return _yaml().load(EXAMPLES[name].read_text(encoding="utf-8"))


def dump(tree: Any) -> str:
    out = io.StringIO()
    _yaml().dump(tree, out)
    return out.getvalue()


def variant_text(name: str, mutate: Mutate) -> str:
    tree = data(name)
    mutate(tree)
    return dump(tree)


def variant(name: str, mutate: Mutate) -> LoadedStack:
    """Load a modified example through the real loader (raises SpecError if invalid)."""
    return load_text(variant_text(name, mutate), f"{name}-variant.yaml")


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def model_variant(name: str, mutate: Mutate) -> Cluster:
    """A modified example validated as a model only (no cross-checks), like a
    cluster that discovery read from a live system."""
    tree = data(name)
    mutate(tree)
    return Cluster.model_validate(_plain(tree))


# -- editing helpers ---------------------------------------------------------------------
def node(tree: Any, name: str) -> Any:
    return next(n for n in tree["nodes"] if n["name"] == name)


def iface(tree: Any, node_name: str, iface_name: str) -> Any:
    return next(i for i in node(tree, node_name)["interfaces"] if i["name"] == iface_name)


def remove_iface(tree: Any, node_name: str, iface_name: str) -> None:
    ifaces = node(tree, node_name)["interfaces"]
    ifaces.remove(iface(tree, node_name, iface_name))


def pool(tree: Any, name: str = "vm-pool") -> Any:
    return next(p for p in tree["ceph"]["pools"] if p["name"] == name)


def storage(tree: Any, name: str) -> Any:
    return next(s for s in tree["storage"] if s["name"] == name)


def remove_storage(tree: Any, name: str) -> None:
    tree["storage"].remove(storage(tree, name))


def rule(tree: Any, name: str) -> Any:
    return next(r for r in tree["ha"]["rules"] if r["name"] == name)


def group(tree: Any, name: str) -> Any:
    return next(g for g in tree["ha"]["groups"] if g["name"] == name)


def guest(tree: Any, sid: str) -> Any:
    return next(g for g in tree["guests"] if g["sid"] == sid)


def osd(tree: Any, node_name: str, device: str) -> Any:
    return next(o for o in tree["ceph"]["osds"] if o["node"] == node_name and o["device"] == device)


def add_resource(tree: Any, sid: str, on: str, **extra: Any) -> None:
    """Add an HA resource and the guest it manages."""
    tree["ha"]["resources"].append(CommentedMap({"sid": sid, **extra}))
    tree["guests"].append(CommentedMap({"sid": sid, "node": on, "memory_mib": 1024, "cores": 1}))


def drop_node(tree: Any, name: str) -> None:
    """Remove a node and every reference to it (daemons, OSDs, HA placement);
    guests on it move to the first remaining node."""
    tree["nodes"].remove(node(tree, name))
    first = tree["nodes"][0]["name"]
    ceph = tree.get("ceph")
    if ceph is not None:
        for field in ("mons", "mgrs", "mdss"):
            if field in ceph:
                ceph[field] = [n for n in ceph[field] if n != name]
        ceph["osds"] = [o for o in ceph["osds"] if o["node"] != name]
    for placement in [*tree["ha"].get("groups", []), *tree["ha"].get("rules", [])]:
        if "nodes" in placement and name in placement["nodes"]:
            del placement["nodes"][name]
            if not placement["nodes"]:
                placement["nodes"][first] = 1
    for g in tree.get("guests", []):
        if g["node"] == name:
            g["node"] = first


def add_node(tree: Any, template: str, name: str, nodeid: int) -> None:
    """Clone node `template` as `name`, moving every address to host part `nodeid + 10`
    of the same subnet."""
    new = copy.deepcopy(node(tree, template))
    new["name"], new["nodeid"] = name, nodeid

    def move(text: str) -> str:
        addr = ipaddress.IPv4Interface(text if "/" in text else f"{text}/32")
        ip = ipaddress.IPv4Address((int(addr.ip) & ~0xFF) | (nodeid + 10))
        return f"{ip}/{addr.network.prefixlen}" if "/" in text else str(ip)

    new["address"] = move(str(new["address"]))
    for i in new["interfaces"]:
        if "address" in i:
            i["address"] = move(str(i["address"]))
    tree["nodes"].append(new)


def set_all_nodes(tree: Any, fn: Callable[[Any], None]) -> None:
    for n in tree["nodes"]:
        fn(n)


def add_vlan_everywhere(tree: Any, name: str, prefix: str) -> None:
    """Add VLAN `name` with address `<prefix>.<nodeid + 10>/24` on every node."""
    for n in tree["nodes"]:
        n["interfaces"].append(
            CommentedMap({"name": name, "type": "vlan", "address": f"{prefix}.{n['nodeid'] + 10}/24"})
        )
