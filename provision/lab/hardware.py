"""Blank lab hardware (docs/lab-contract.md): freshly installed, standalone PVE nodes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from provision.lab import ssh
from provision.lab.files import STORAGE, write_sections
from provision.lab.formats.sectionconfig import Section
from provision.lab.paths import LabPaths
from provision.lab.store import Store

NICS = ("eno1", "eno2", "eno3", "eno4", "enp65s0f0", "enp65s0f1")
TB = 1000**4
GB = 1000**3
PVE_RELEASES = {8: "8.4.1", 9: "9.1.1"}
PVE_REPOIDS = {8: "2a5fa54a8503f96d", 9: "42b1a4de4b8e7d93"}
#: pve-cluster shipped with those releases: pve-manager 8.4.1 (2025-04-10) came with
#: pve-cluster 8.1.0 (2025-04-04), 9.1.1 (2025-11-18) with 9.0.7 (2025-11-10); 9.1.0,
#: the first with ``pvecm create --token-coefficient``, followed in 2026-03.
PVE_CLUSTER_RELEASES = {8: (8, 1, 0), 9: (9, 0, 7)}


def node_names(count: int) -> list[str]:
    return [f"pve{i:02d}" for i in range(1, count + 1)]


def node_ip(idx: int) -> str:
    """Installer address of node ``idx`` (1-based): pve01 = 192.168.10.11."""
    return f"192.168.10.{10 + idx}"


def installer_interfaces(idx: int, ip: str | None = None, port: str = "eno1", nics: tuple[str, ...] = NICS) -> str:
    """``/etc/network/interfaces`` as the PVE installer leaves it (vmbr0 on one NIC, /24)."""
    ip = ip or node_ip(idx)
    gateway = ip.rsplit(".", 1)[0] + ".1"
    parts = ["auto lo\niface lo inet loopback\n"]
    parts += [f"iface {nic} inet manual\n" for nic in nics]
    parts.append(
        "auto vmbr0\niface vmbr0 inet static\n"
        f"\taddress {ip}/24\n\tgateway {gateway}\n"
        f"\tbridge-ports {port}\n\tbridge-stp off\n\tbridge-fd 0\n"
    )
    parts.append("source /etc/network/interfaces.d/*\n")
    return "\n".join(parts)


def default_storage_cfg() -> str:
    return write_sections(
        [
            Section("dir", "local", {"path": "/var/lib/vz", "content": "iso,vztmpl,backup"}),
            Section("lvmthin", "local-lvm", {"thinpool": "data", "vgname": "pve", "content": "rootdir,images"}),
        ],
        "storage",
    )


@dataclass
class NodeHW:
    """One node's hardware and installer state."""

    name: str
    ip: str
    memory_mb: int = 131072
    cores: int = 32
    nics: tuple[str, ...] = NICS
    extra_disks: tuple[str, ...] = ()
    interfaces: str | None = None  # installer file; default: vmbr0 on the first NIC


@dataclass
class GuestHW:
    vmid: int
    type: str  # qemu | lxc
    name: str
    node: str
    memory_mb: int
    cores: int
    status: str = "running"


def blank_guests(names: list[str]) -> list[GuestHW]:
    """``vm 100+i`` on node i+1 (i from 0), plus ``ct 200`` on the first node."""
    out = [GuestHW(100 + i, "qemu", f"vm{100 + i}", n, 4096, 2) for i, n in enumerate(names)]
    out.append(GuestHW(200, "lxc", "ct200", names[0], 1024, 1))
    return out


def seed_blank(store: Store, paths: LabPaths, count: int, pve: int) -> list[str]:
    """Fill a fresh store with ``count`` blank nodes and write their local disks."""
    names = node_names(count)
    nodes = [NodeHW(n, node_ip(i), interfaces=installer_interfaces(i)) for i, n in enumerate(names, start=1)]
    seed_nodes(store, paths, nodes, blank_guests(names), pve)
    return names


def seed_nodes(store: Store, paths: LabPaths, nodes: list[NodeHW], guests: list[GuestHW], pve: int) -> None:
    """Freshly installed, standalone nodes: inventory rows, default storage.cfg, local disks."""
    now = time.time()
    with store.tx() as c:
        store.set_meta("pve_version", pve)
        store.set_meta("lab_name", paths.name)
        for i, hw in enumerate(nodes, start=1):
            c.execute(
                "INSERT INTO nodes(name, idx, ip, memory_mb, cores, power, boot_time) VALUES(?,?,?,?,?,1,?)",
                (hw.name, i, hw.ip, hw.memory_mb, hw.cores, now),
            )
            for j, nic in enumerate(hw.nics):
                c.execute(
                    "INSERT INTO nics(node, name, mac, link_up) VALUES(?,?,?,1)",
                    (hw.name, nic, f"bc:24:11:{i:02x}:{j:02x}:01"),
                )
            c.execute(
                "INSERT INTO disks VALUES(?,?,?,?,?,?,?)",
                (hw.name, "/dev/sda", 480 * GB, "ssd", "SAMSUNG MZ7L3480", f"S{i:02d}SYS0001", "BIOS boot,EFI,LVM"),
            )
            data = [f"/dev/sd{letter}" for letter in "bcdefgh"]
            data += [d for d in hw.extra_disks if d not in data and d not in ("/dev/sda", "/dev/nvme0n1")]
            for k, dev in enumerate(data):
                c.execute(
                    "INSERT INTO disks VALUES(?,?,?,?,?,?,NULL)",
                    (hw.name, dev, int(3.84 * TB), "ssd", "SAMSUNG MZ7L33T8", f"S{i:02d}DAT{k:04d}"),
                )
            c.execute(
                "INSERT INTO disks VALUES(?,?,?,?,?,?,NULL)",
                (hw.name, "/dev/nvme0n1", int(1.6 * TB), "nvme", "INTEL SSDPF2KE016T", f"P{i:02d}NVM0001"),
            )
        for g in guests:
            c.execute(
                "INSERT INTO guests(vmid, type, name, node, status, memory_mb, cores) VALUES(?,?,?,?,?,?,?)",
                (g.vmid, g.type, g.name, g.node, g.status, g.memory_mb, g.cores),
            )
        store.put_file(STORAGE, default_storage_cfg())
    for i, hw in enumerate(nodes, start=1):
        iface = paths.interfaces(hw.name)
        iface.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(iface, hw.interfaces or installer_interfaces(i, hw.ip, hw.nics[0]))
        default = paths.ha_manager_default(hw.name)
        default.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(default, HA_MANAGER_DEFAULT)
        ssh.install_keys(paths, hw.name)


HA_MANAGER_DEFAULT = "# select watchdog module (default is softdog)\n#WATCHDOG_MODULE=ipmi_watchdog\n"
"""/etc/default/pve-ha-manager as the package installs it (pve-ha-manager debian/pve-ha-manager.default)."""


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
