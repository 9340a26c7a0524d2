"""Blank lab hardware (docs/lab-contract.md): freshly installed, standalone PVE nodes."""

from __future__ import annotations

import time
from pathlib import Path

from provision.lab.files import STORAGE, write_sections
from provision.lab.formats.sectionconfig import Section
from provision.lab.paths import LabPaths
from provision.lab.store import Store

NICS = ("eno1", "eno2", "eno3", "eno4", "enp65s0f0", "enp65s0f1")
TB = 1000**4
GB = 1000**3
PVE_RELEASES = {8: "8.4.1", 9: "9.1.1"}
PVE_REPOIDS = {8: "2a5fa54a8503f96d", 9: "42b1a4de4b8e7d93"}


def node_names(count: int) -> list[str]:
    return [f"pve{i:02d}" for i in range(1, count + 1)]


def node_ip(idx: int) -> str:
    """Installer address of node ``idx`` (1-based): pve01 = 192.168.10.11."""
    return f"192.168.10.{10 + idx}"


def installer_interfaces(idx: int) -> str:
    """``/etc/network/interfaces`` as the PVE installer leaves it."""
    parts = ["auto lo\niface lo inet loopback\n"]
    parts += [f"iface {nic} inet manual\n" for nic in NICS]
    parts.append(
        "auto vmbr0\niface vmbr0 inet static\n"
        f"\taddress {node_ip(idx)}/24\n\tgateway 192.168.10.1\n"
        "\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n"
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


def seed_blank(store: Store, paths: LabPaths, count: int, pve: int) -> list[str]:
    """Fill a fresh store with ``count`` blank nodes and write their local disks."""
    names = node_names(count)
    now = time.time()
    with store.tx() as c:
        store.set_meta("pve_version", pve)
        store.set_meta("lab_name", paths.name)
        for i, name in enumerate(names, start=1):
            c.execute(
                "INSERT INTO nodes(name, idx, ip, memory_mb, cores, power, boot_time) VALUES(?,?,?,?,?,1,?)",
                (name, i, node_ip(i), 131072, 32, now),
            )
            for j, nic in enumerate(NICS):
                c.execute(
                    "INSERT INTO nics(node, name, mac, link_up) VALUES(?,?,?,1)",
                    (name, nic, f"bc:24:11:{i:02x}:{j:02x}:01"),
                )
            c.execute(
                "INSERT INTO disks VALUES(?,?,?,?,?,?,?)",
                (name, "/dev/sda", 480 * GB, "ssd", "SAMSUNG MZ7L3480", f"S{i:02d}SYS0001", "BIOS boot,EFI,LVM"),
            )
            for k, letter in enumerate("bcdefgh"):
                c.execute(
                    "INSERT INTO disks VALUES(?,?,?,?,?,?,NULL)",
                    (name, f"/dev/sd{letter}", int(3.84 * TB), "ssd", "SAMSUNG MZ7L33T8", f"S{i:02d}DAT{k:04d}"),
                )
            c.execute(
                "INSERT INTO disks VALUES(?,?,?,?,?,?,NULL)",
                (name, "/dev/nvme0n1", int(1.6 * TB), "nvme", "INTEL SSDPF2KE016T", f"P{i:02d}NVM0001"),
            )
            c.execute(
                "INSERT INTO guests(vmid, type, name, node, status, memory_mb, cores) VALUES(?,?,?,?,?,?,?)",
                (99 + i, "qemu", f"vm{99 + i}", name, "running", 4096, 2),
            )
        c.execute(
            "INSERT INTO guests(vmid, type, name, node, status, memory_mb, cores) VALUES(200,'lxc','ct200',?,"
            "'running',1024,1)",
            (names[0],),
        )
        store.put_file(STORAGE, default_storage_cfg())
    for i, name in enumerate(names, start=1):
        iface = paths.interfaces(name)
        iface.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(iface, installer_interfaces(i))
    return names


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
