"""`pvecm qdevice setup` as on PVE (pve-cluster `PVE/CLI/pvecm.pm` setup_qdevice): it needs
root SSH trust from the node it runs on to the QNetd host, `corosync-qnetd` there and
`corosync-qdevice` on every node, and stops with the failing step's error otherwise,
before corosync.conf gets a `device` section."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labkit import LabHandle, start_lab, stop_lab

QNETD = "192.168.10.5"
SETUP = ("pvecm", "qdevice", "setup", QNETD)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabHandle]:
    handle = start_lab(tmp_path / "home", "qdev", "--nodes", "2", "--qnetd", QNETD)
    try:
        handle.make_cluster()
        yield handle
    finally:
        stop_lab(handle)


def _corosync_conf(lab: LabHandle) -> str:
    return (lab.root / "nodes" / "pve01" / "root" / "etc" / "pve" / "corosync.conf").read_text()


def test_each_missing_preparation_stops_setup_with_pves_error(lab: LabHandle) -> None:
    p = lab.node("pve01", *SETUP, check=False)
    assert p.returncode != 0 and "Host key verification failed." in p.stderr
    assert f"command 'ssh-copy-id -i /root/.ssh/id_rsa root@{QNETD}' failed: exit code 1" in p.stderr

    lab.trust_qnetd("pve01", QNETD)
    p = lab.node("pve01", *SETUP, check=False)
    assert p.returncode != 0 and "qnetd-cacert.crt: No such file or directory" in p.stderr

    assert lab.host_apt(QNETD, "corosync-qnetd").returncode == 0
    p = lab.node("pve01", *SETUP, check=False)
    assert p.returncode != 0 and "exec of corosync-qdevice-net-certutil -r -n prod failed" in p.stderr

    lab.node("pve01", "apt-get", "install", "-y", "corosync-qdevice")
    p = lab.node("pve01", *SETUP, check=False)
    assert p.returncode != 0 and "HostKeyAlias=pve02" in p.stderr and "exit code 127" in p.stderr
    assert "device" not in _corosync_conf(lab)
    assert lab.get("/cluster/config/qdevice") == {}

    lab.node("pve02", "apt-get", "install", "-y", "corosync-qdevice")
    lab.node("pve01", *SETUP)
    assert f"host: {QNETD}" in _corosync_conf(lab)
    assert lab.get("/cluster/config/qdevice")["QNetd host"] == f"{QNETD}:5403"


def test_trust_from_another_node_is_not_enough(lab: LabHandle) -> None:
    lab.trust_qnetd("pve02", QNETD)
    p = lab.node("pve01", *SETUP, check=False)
    assert p.returncode != 0 and "Host key verification failed." in p.stderr


def test_setup_towards_an_address_without_a_host_cannot_connect(lab: LabHandle) -> None:
    p = lab.node("pve01", "pvecm", "qdevice", "setup", "192.168.10.9", check=False)
    assert p.returncode != 0 and "ssh: connect to host 192.168.10.9 port 22: No route to host" in p.stderr


def test_apt_get_installs_once_and_knows_only_real_packages(lab: LabHandle) -> None:
    status = ("dpkg-query", "-W", "--showformat=${Status}", "corosync-qdevice")
    before = lab.node("pve01", *status, check=False)
    assert before.returncode == 1 and "no packages found matching corosync-qdevice" in before.stderr
    first = lab.node("pve01", "apt-get", "install", "-y", "corosync-qdevice")
    assert lab.node("pve01", *status).stdout == "install ok installed"
    assert "1 newly installed" in first.stdout
    again = lab.node("pve01", "apt-get", "install", "-y", "corosync-qdevice")
    assert "0 newly installed" in again.stdout and "already the newest version" in again.stdout
    bad = lab.node("pve01", "apt-get", "install", "-y", "corosync-qdevicex", check=False)
    assert bad.returncode == 100 and "Unable to locate package corosync-qdevicex" in bad.stderr
    # apt/versions lists a fixed set of packages (pve-manager APT.pm): never the QDevice's
    names = {p["Package"] for p in lab.get("/nodes/pve01/apt/versions")}
    assert "corosync-qdevice" not in names and "pve-manager" in names


def test_the_qdevice_unit_exists_only_with_its_package(lab: LabHandle) -> None:
    p = lab.node("pve02", "systemctl", "start", "corosync-qdevice", check=False)
    assert p.returncode == 5 and "Unit corosync-qdevice.service not found." in p.stderr
    lab.node("pve02", "apt-get", "install", "-y", "corosync-qdevice")
    lab.node("pve02", "systemctl", "start", "corosync-qdevice")


def test_an_offline_node_is_named(lab: LabHandle) -> None:
    lab.lab("fail", "pve02")
    p = lab.node("pve01", *SETUP, check=False)
    assert p.returncode != 0 and "All nodes must be online! Node pve02 is offline, aborting." in p.stderr
