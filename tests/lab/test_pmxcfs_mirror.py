"""/etc/pve as files on every node, like pmxcfs's mount: what a node writes there is in
the cluster database and on every other node; without quorum the mount is read-only."""

from __future__ import annotations

import re

from labkit import LabHandle


def _conf(lab: LabHandle, node: str) -> str:
    return (lab.root / "nodes" / node / "root" / "etc" / "pve" / "corosync.conf").read_text()


def test_api_writes_appear_on_every_node(lab8: LabHandle) -> None:
    lab8.make_cluster()
    for node in ("pve01", "pve02", "pve03"):
        text = _conf(lab8, node)
        assert "cluster_name: prod" in text and text.count("node {") == 3
    lab8.ok("POST", "/storage", storage="nfs1", type="nfs", server="10.0.0.5", export="/e", content="iso")
    assert "nfs: nfs1" in (lab8.root / "nodes/pve03/root/etc/pve/storage.cfg").read_text()


def test_manual_corosync_edit_protocol_takes_effect(lab8: LabHandle) -> None:
    """pvecm.adoc: edit a copy, bump config_version, move it over the original."""
    root = lab8.root / "nodes" / "pve02" / "root" / "etc" / "pve"
    old = _conf(lab8, "pve02")
    version = int(re.search(r"config_version: (\d+)", old).group(1))  # type: ignore[union-attr]
    new = old.replace(f"config_version: {version}", f"config_version: {version + 1}")
    new = new.replace("    linknumber: 0\n", "    knet_link_priority: 42\n    linknumber: 0\n")
    (root / "corosync.conf.new").write_text(new)
    (root / "corosync.conf.new").replace(root / "corosync.conf")
    totem = lab8.get("/cluster/config/totem")
    assert totem["config_version"] == str(version + 1)
    assert totem["interface"]["0"]["knet_link_priority"] == "42"
    assert "knet_link_priority: 42" in _conf(lab8, "pve03")  # pmxcfs shows it everywhere
    status = lab8.node("pve01", "pvecm", "status").stdout
    assert re.search(rf"Config Version:\s+{version + 1}\b", status)


def test_without_quorum_the_mount_is_read_only(lab8: LabHandle) -> None:
    lab8.lab("fail", "pve02")
    lab8.lab("fail", "pve03")
    try:
        root = lab8.root / "nodes" / "pve01" / "root" / "etc" / "pve"
        before = (root / "storage.cfg").read_text()
        (root / "storage.cfg").write_text(before + "\ndir: sneaky\n\tpath /tmp\n")
        assert not any(s["storage"] == "sneaky" for s in lab8.get("/storage"))
        assert (root / "storage.cfg").read_text() == before  # the write was refused
    finally:
        lab8.lab("recover", "pve02")
        lab8.lab("recover", "pve03")
