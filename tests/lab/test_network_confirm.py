"""The lab's stand-ins for what commit-confirm relies on (docs/lab-contract.md, Network):
systemd-run timers and their cancellation, a reload that drops the management address
cutting the node off, and corosync-cfgtool's link view following the running network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labkit import LabHandle, start_lab, stop_lab

STACK = Path(__file__).resolve().parents[2] / "stacks" / "lab.yaml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    handle = start_lab(tmp_path_factory.mktemp("home"), "c", "--from", str(STACK))
    try:
        yield handle
    finally:
        stop_lab(handle)


def _links(lab: LabHandle, node: str) -> str:
    return lab.node(node, "corosync-cfgtool", "-n").stdout


def test_corosync_cfgtool_lists_every_peer_and_link(lab: LabHandle) -> None:
    out = _links(lab, "pve01")
    assert out.startswith("Local node ID 1, transport knet\nnodeid: 2 reachable")
    assert "   LINK: 0 udp (10.10.10.11->10.10.10.12) enabled connected mtu: 1397\n" in out
    assert "   LINK: 1 udp (10.10.11.11->10.10.11.13) enabled connected mtu: 1397\n" in out


def test_a_faulted_link_is_enabled_but_not_connected(lab: LabHandle) -> None:
    lab.lab("link-down", "pve02", "1")
    try:
        out = _links(lab, "pve01")
        assert "   LINK: 1 udp (10.10.11.11->10.10.11.12) enabled mtu: 1397\n" in out
        assert "   LINK: 1 udp (10.10.11.11->10.10.11.13) enabled connected mtu: 1397\n" in out
    finally:
        lab.lab("link-up", "pve02", "1")


def test_a_reload_without_a_link_address_takes_that_link_down(lab: LabHandle) -> None:
    path = lab.root / "nodes/pve03/root/etc/network/interfaces"
    before = path.read_text()
    try:
        path.write_text(before.replace("\taddress 10.10.11.13/24\n", "\taddress 10.10.11.23/24\n"))
        lab.node("pve03", "ifreload", "-a")
        assert "(10.10.11.11->10.10.11.13) enabled mtu" in _links(lab, "pve01")
    finally:
        path.write_text(before)
        lab.node("pve03", "ifreload", "-a")
    assert "(10.10.11.11->10.10.11.13) enabled connected mtu" in _links(lab, "pve01")


def test_a_timer_fires_unless_stopped(lab: LabHandle) -> None:
    marker = lab.root / "nodes/pve02/root/tmp-fired"
    lab.node("pve02", "systemd-run", "--unit=t-stop", "--on-active=2", "touch", str(marker))
    assert lab.node("pve02", "systemctl", "is-active", "t-stop.timer").stdout == "active\n"
    lab.node("pve02", "systemctl", "stop", "t-stop.timer")
    again = lab.node("pve02", "systemctl", "stop", "t-stop.timer", check=False)
    assert again.returncode == 5 and "Unit t-stop.timer not loaded." in again.stderr
    lab.node("pve02", "systemd-run", "--unit=t-fire", "--on-active=1", "touch", str(marker))
    lab.wait(marker.exists, what="the timer's command")
    lab.wait(lambda: lab.node("pve02", "systemctl", "is-active", "t-fire.timer", check=False).returncode == 3,
             what="the fired timer to be gone")


def test_losing_the_management_address_cuts_the_node_off_until_a_revert(lab: LabHandle) -> None:
    path = lab.root / "nodes/pve02/root/etc/network/interfaces"
    before = path.read_text()
    keep = path.with_name("interfaces.keep")
    keep.write_text(before)
    lab.node("pve02", "systemd-run", "--unit=revert", "--on-active=3", "/bin/sh", "-c",
             f"mv -f {keep} {path} && {lab.root / 'bin' / 'ifreload'} -a")
    path.write_text(before.replace("\taddress 192.168.10.12/24\n", "\taddress 192.168.10.112/24\n"))
    lab.node("pve02", "ifreload", "-a")
    cut = lab.node("pve02", "pvesh", "get", "/version", check=False)
    assert cut.returncode == 255 and "No route to host" in cut.stderr
    lab.wait(lambda: lab.node("pve02", "pvesh", "get", "/version", check=False).returncode == 0,
             what="the node's own revert")
    assert path.read_text() == before
