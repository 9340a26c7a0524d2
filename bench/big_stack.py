"""The largest stack pve-provision is sized for: 32 nodes, 400 OSDs, 2,000 HA resources
and their guests (about 365 kB). bench/hostile_specs.py checks it loads.

    .venv/bin/python bench/big_stack.py > /tmp/big.yaml
"""

from __future__ import annotations

import sys


def big_stack(nodes: int = 32, osds: int = 400, resources: int = 2000) -> str:
    out = ["name: big", "pve_version: 8", "connection: {lab: default}", "nodes:"]
    for n in range(1, nodes + 1):
        out += [
            f"  - name: pve{n:02d}",
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
    out += [
        "corosync:",
        "  links:",
        "    - {number: 0, network: 10.10.10.0/24, priority: 20}",
        "    - {number: 1, network: 10.10.11.0/24, priority: 10}",
        "ceph:",
        "  public_network: 10.20.20.0/24",
        "  cluster_network: 10.30.30.0/24",
        "  mons: [pve01, pve02, pve03, pve04, pve05]",
        "  mgrs: [pve01, pve02, pve03]",
        "  osds:",
    ]
    for i in range(osds):
        out.append(f"    - {{node: pve{i % nodes + 1:02d}, device: /dev/sd{chr(98 + i // nodes)}, device_class: ssd}}")
    out += [
        "  pools:",
        "    - {name: vm-pool, size: 3, min_size: 2, pg_autoscale_mode: 'on'}",
        "storage:",
        "  - {name: ceph-vm, type: rbd, pool: vm-pool, content: [images, rootdir]}",
        "ha:",
        "  groups:",
    ]
    for g in range(16):
        out.append(f"    - {{name: g{g}, nodes: {{pve{g * 2 + 1:02d}: 2, pve{g * 2 + 2:02d}: 1}}}}")
    out.append("  resources:")
    for r in range(resources):
        out.append(f"    - {{sid: 'vm:{1000 + r}', group: g{r % 16}, max_restart: 2, comment: guest number {r}}}")
    out.append("guests:")
    for r in range(resources):
        out.append(
            f"  - {{sid: 'vm:{1000 + r}', name: guest{r}, node: pve{r % nodes + 1:02d}, memory_mib: 4096, cores: 2}}"
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(big_stack())
