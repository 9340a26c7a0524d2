"""Synthetic clusters for the benchmarks: N nodes, OSDs per node, pools, storages, H HA
resources with their guests, as stack text, and the same stack differing by K changes.

The largest one is what pve-provision is sized for (32 nodes, 384 OSDs, 2,000 HA
resources, about 365 kB); bench/hostile_specs.py and bench/stack_load.py load it.
A lab converged with a stack comes from ``provision lab up --from`` (bench/scale.py);
the changed stack is the plan input whose actions are exactly the K changes.

    .venv/bin/python bench/big_stack.py [NODES OSDS_PER_NODE HA [CHANGES]] > /tmp/big.yaml
"""

from __future__ import annotations

import string
import sys
from dataclasses import dataclass

#: Device letters of a node's OSD disks (sdb, sdc, ...): the lab's hardware follows the stack.
_DISKS = string.ascii_lowercase[1:]


@dataclass(frozen=True)
class Size:
    """One synthetic cluster; the label is what the bench table prints."""

    nodes: int
    osds_per_node: int
    ha: int
    pools: int = 1
    storages: int = 1

    @property
    def osds(self) -> int:
        return self.nodes * self.osds_per_node

    @property
    def groups(self) -> int:
        """One HA group per node, preferring it (its guests stay where the stack puts them)."""
        return self.nodes

    @property
    def label(self) -> str:
        return f"{self.nodes} nodes / {self.osds} OSDs / {self.ha} HA"


def _node(n: int) -> str:
    return f"pve{n:02d}"


def synth_stack(size: Size, *, lab: str = "default", changes: int = 0) -> str:
    """The stack of ``size``; with ``changes`` = K, the first K HA resources have another
    ``max_restart`` (one ha_resource_set action each, nothing else differs)."""
    if size.osds_per_node > len(_DISKS):
        raise ValueError(f"at most {len(_DISKS)} OSDs per node")
    if changes > size.ha:
        raise ValueError(f"{changes} changes but only {size.ha} HA resources")
    nodes = size.nodes
    out = ["name: big", "pve_version: 8", f"connection: {{lab: {lab}}}", "nodes:"]
    for n in range(1, nodes + 1):
        out += [
            f"  - name: {_node(n)}",
            f"    nodeid: {n}",
            f"    address: 192.168.10.{n}",
            "    capacity: {memory_mib: 524288, cores: 64}",
            "    interfaces:",
        ]
        for nic in range(8):
            out.append(f"      - {{name: eno{nic}, type: nic}}")
        out += [
            "      - {name: bond0, type: bond, mode: 802.3ad, slaves: [eno0, eno1], "
            "xmit_hash_policy: layer3+4, mtu: 9000}",
            f"      - {{name: bond0.10, type: vlan, address: 10.10.10.{n}/24}}",
            f"      - {{name: bond0.11, type: vlan, address: 10.10.11.{n}/24}}",
            f"      - {{name: bond0.20, type: vlan, address: 10.20.20.{n}/24, mtu: 9000}}",
            f"      - {{name: bond0.30, type: vlan, address: 10.30.30.{n}/24, mtu: 9000}}",
            f"      - {{name: vmbr0, type: bridge, ports: [eno2], address: 192.168.10.{n}/24, "
            "gateway: 192.168.10.254, vlan_aware: true}",
        ]
    mons = ", ".join(_node(n) for n in range(1, min(nodes, 5) + 1))
    mgrs = ", ".join(_node(n) for n in range(1, min(nodes, 3) + 1))
    out += [
        "corosync:",
        "  links:",
        "    - {number: 0, network: 10.10.10.0/24, priority: 20}",
        "    - {number: 1, network: 10.10.11.0/24, priority: 10}",
        "ceph:",
        "  public_network: 10.20.20.0/24",
        "  cluster_network: 10.30.30.0/24",
        f"  mons: [{mons}]",
        f"  mgrs: [{mgrs}]",
        "  osds:",
    ]
    for i in range(size.osds):
        out.append(f"    - {{node: {_node(i % nodes + 1)}, device: /dev/sd{_DISKS[i // nodes]}, device_class: ssd}}")
    out.append("  pools:")
    for p in range(size.pools):
        out.append(f"    - {{name: vm-pool{p}, size: 3, min_size: 2, pg_autoscale_mode: 'on'}}")
    out.append("storage:")
    for s in range(size.storages):
        out.append(f"  - {{name: ceph-vm{s}, type: rbd, pool: vm-pool{s % size.pools}, content: [images, rootdir]}}")
    out += ["ha:", "  groups:"]
    for g in range(size.groups):
        first, second = _node(g + 1), _node((g + 1) % nodes + 1)
        out.append(f"    - {{name: g{g}, nodes: {{{first}: 2, {second}: 1}}}}")
    out.append("  resources:")
    for r in range(size.ha):
        restart = 3 if r < changes else 2
        out.append(f"    - {{sid: 'vm:{1000 + r}', group: g{r % size.groups}, max_restart: {restart}, "
                   f"comment: guest number {r}}}")
    out.append("guests:")
    for r in range(size.ha):
        out.append(f"  - {{sid: 'vm:{1000 + r}', name: guest{r}, node: {_node(r % nodes + 1)}, "
                   "memory_mib: 4096, cores: 2}")
    return "\n".join(out) + "\n"


def big_stack(nodes: int = 32, osds: int = 384, resources: int = 2000) -> str:
    """The largest stack (kept for the loader benches that time parsing it)."""
    return synth_stack(Size(nodes, osds // nodes, resources))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    if args:
        sys.stdout.write(synth_stack(Size(*args[:3]), changes=args[3] if len(args) > 3 else 0))
    else:
        sys.stdout.write(big_stack())
