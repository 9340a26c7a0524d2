"""`pvecm add --use_ssh` as on PVE: it runs ssh-copy-id and `ssh -o BatchMode=yes` to
the existing node without a terminal, so it fails until root's key is authorized there
and the node's host key is pinned; the lab checks the nodes' own files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labkit import LabHandle, start_lab, stop_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """One blank lab for the module: the join test forms a cluster on it, and the address
    check that follows is parameter verification, which runs before any state is read."""
    handle = start_lab(tmp_path_factory.mktemp("home"), "ssh", "--blank")
    try:
        yield handle
    finally:
        stop_lab(handle)


def _root(lab: LabHandle, node: str) -> Path:
    return lab.root / "nodes" / node / "root"


def test_join_over_ssh_needs_authorized_key_and_pinned_host_key(lab: LabHandle) -> None:
    lab.node("pve01", "pvecm", "create", "lab")
    join = ("pvecm", "add", "192.168.10.11", "--use_ssh", "--link0", "192.168.10.12")
    p = lab.node("pve02", *join, check=False)
    assert p.returncode != 0 and "Host key verification failed." in p.stderr
    assert "unable to copy ssh ID" in p.stderr
    host_key = (_root(lab, "pve01") / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
    known = _root(lab, "pve02") / "root/.ssh/known_hosts"
    known.write_text(f"192.168.10.11 {host_key[0]} {host_key[1]}\n")
    p = lab.node("pve02", *join, check=False)
    assert p.returncode != 0 and "Permission denied (publickey,password)" in p.stderr
    assert lab.get("/cluster/status")[0].get("nodes", 1) == 1
    pub = (_root(lab, "pve02") / "root/.ssh/id_rsa.pub").read_text()
    (_root(lab, "pve01") / "root/.ssh/authorized_keys").write_text(pub)
    lab.node("pve02", *join)
    assert {n["name"] for n in lab.get("/cluster/status") if n["type"] == "node"} == {"pve01", "pve02"}


def test_qdevice_setup_takes_an_ip_address_only(lab: LabHandle) -> None:
    p = lab.node("pve01", "pvecm", "qdevice", "setup", "qnetd.example.com", check=False)
    assert p.returncode != 0 and "does not look like a valid IP address" in p.stderr
