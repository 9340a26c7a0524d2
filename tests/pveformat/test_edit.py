"""A stack's interfaces applied to a node's file (provision.pveformat.edit): only what the
stack manages changes, everything else stays byte for byte; the files apply writes for the
reference stacks pass ifupdown2's parser and are a fixed point of PVE's reader/writer."""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from provision.lab import hardware
from provision.plan.diff import _iface_view
from provision.pveformat.edit import edit_text
from provision.pveformat.interfaces import InterfacesError, parse, write
from provision.spec import load_stack

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
NICS = list(hardware.NICS)


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def _ifupdown2_check(path: Path) -> subprocess.CompletedProcess[str]:
    """ifupdown2's own parser (`ifup -a -s -i FILE`); it takes its lock under /run/network."""
    os.makedirs("/run/network", exist_ok=True)
    for _ in range(20):
        proc = subprocess.run(["ifup", "-a", "-s", "-i", str(path)], capture_output=True, text=True, check=False)
        if proc.returncode != 89:  # 89: another ifupdown2 instance holds the lock
            return proc
    return proc


UNMANAGED = (DATA / "node-with-unmanaged-content.interfaces").read_text()
STACK_SIDE = [  # what a stack says about this node: bond0 goes to MTU 9000, the rest as it is
    {"name": "eno1", "type": "nic", "autostart": False, "mtu": 1500},
    {"name": "eno2", "type": "nic", "autostart": True, "mtu": 9000},
    {"name": "eno3", "type": "nic", "autostart": True, "mtu": 9000},
    {"name": "bond0", "type": "bond", "mode": "active-backup", "slaves": ["eno2", "eno3"], "primary": "eno2",
     "miimon": 100, "address": "10.10.10.11/24", "mtu": 9000, "autostart": True},
    {"name": "vmbr0", "type": "bridge", "ports": ["eno1"], "address": "192.168.10.11/24", "gateway": "192.168.10.1",
     "address6": "fd00:10::11/64", "gateway6": "fd00:10::1", "stp": False, "forward_delay": 0, "vlan_aware": False,
     "autostart": True, "mtu": 1500},
]


def test_the_fixture_is_in_pve_layout_and_valid_for_ifupdown2(tmp_path: Path) -> None:
    assert write(parse(UNMANAGED, NICS)) == UNMANAGED
    (tmp_path / "interfaces").write_text(UNMANAGED)
    proc = _ifupdown2_check(tmp_path / "interfaces")
    assert proc.returncode == 0, proc.stderr


def test_a_bond_mtu_change_keeps_ipv6_post_up_ovs_dhcp_hwaddress_and_source() -> None:
    after = edit_text(UNMANAGED, STACK_SIDE, NICS)
    assert _changed_lines(UNMANAGED, after) == ["+\tmtu 9000", "+\tmtu 9000", "+\tmtu 9000"]
    bond0 = after.split("auto bond0\n", 1)[1].split("\n\n", 1)[0]
    assert bond0.endswith("\tbond-primary eno2\n\tmtu 9000\n\tpost-up ip route add 10.10.12.0/24 via 10.10.10.254")
    for kept in ("iface eno4 inet dhcp", "iface vmbr0 inet6 static\n\taddress fd00:10::11/64\n\tgateway fd00:10::1\n"
                 "\tpost-up ip -6 route add fd00:11::/64 via fd00:10::fe", "\thwaddress bc:24:11:01:00:01",
                 "iface mgmt6 inet6 static", "ovs_ports enp65s0f0 mgmt6", "#out-of-band v6 management",
                 "source /etc/network/interfaces.d/*"):
        assert kept in after, kept


def test_applying_the_same_stack_again_changes_nothing() -> None:
    once = edit_text(UNMANAGED, STACK_SIDE, NICS)
    assert edit_text(once, STACK_SIDE, NICS) == once


def test_only_the_managed_options_of_a_managed_stanza_change() -> None:
    want = [dict(i) for i in STACK_SIDE]
    want[4] = {**want[4], "address6": None, "gateway6": None, "comment": "mgmt"}
    after = edit_text(UNMANAGED, want, NICS)
    changed = _changed_lines(UNMANAGED, after)
    # the inet6 stanza goes with its address (the stack manages address6 now), the comment arrives
    assert "-iface vmbr0 inet6 static" in changed and "+#mgmt" in changed
    assert "\thwaddress bc:24:11:01:00:01\n" in after


def test_unmanaged_interfaces_are_never_touched() -> None:
    want = [{"name": "eno4", "type": "nic", "managed": False}, *STACK_SIDE]
    assert "iface eno4 inet dhcp" in edit_text(UNMANAGED, want, NICS)


def test_prune_leaves_a_bare_nic_and_drops_other_interfaces() -> None:
    after = edit_text(UNMANAGED, STACK_SIDE, NICS, remove=["eno4"])
    assert "\niface eno4 inet manual\n" in after and "dhcp" not in after


def test_a_named_vlan_gets_no_vlan_id_line_and_a_custom_one_does() -> None:
    want = [*STACK_SIDE, {"name": "vlan50", "type": "vlan", "raw_device": "bond0", "tag": 50},
            {"name": "storage", "type": "vlan", "raw_device": "bond0", "tag": 60}]
    after = edit_text(UNMANAGED, want, NICS)
    assert "iface vlan50 inet manual\n\tvlan-raw-device bond0\n\n" in after
    assert "iface storage inet manual\n\tvlan-id 60\n\tvlan-raw-device bond0\n\n" in after
    assert write(parse(after, NICS)) == after


def test_a_stack_that_breaks_pve_checks_gets_pve_message() -> None:
    want = [*STACK_SIDE, {"name": "bond1", "type": "bond", "slaves": ["eno9"], "mode": "balance-rr"}]
    with pytest.raises(InterfacesError, match="bond 'bond1' - unable to find slave 'eno9'"):
        edit_text(UNMANAGED, want, NICS)


def _reference_nodes() -> list[tuple[str, str, list[dict[str, Any]], list[str]]]:
    out = []
    for stack in ("lab.yaml", "pve9-example.yaml"):
        cluster = load_stack(REPO / "stacks" / stack).cluster
        for node in cluster.nodes:
            nics = sorted({*NICS, *(i.name for i in node.interfaces if i.type == "nic")})
            managed = [_iface_view(i) for i in node.interfaces if i.managed]
            out.append((stack, node.name, managed, nics))
    return out


@pytest.mark.parametrize(("stack", "node", "managed", "nics"), _reference_nodes(),
                         ids=[f"{s}:{n}" for s, n, _, _ in _reference_nodes()])
def test_reference_stack_files_pass_ifupdown2_and_round_trip(
    tmp_path: Path, stack: str, node: str, managed: list[dict[str, Any]], nics: list[str]
) -> None:
    installer = write(parse(hardware.installer_interfaces(int(node[-2:]), nics=tuple(nics)), nics))
    text = edit_text(installer, managed, nics)
    assert write(parse(text, nics)) == text
    (tmp_path / "interfaces").write_text(text)
    proc = _ifupdown2_check(tmp_path / "interfaces")
    assert proc.returncode == 0, proc.stderr
    assert edit_text(text, managed, nics) == text


def test_ifupdown2_rejects_a_broken_file(tmp_path: Path) -> None:
    """The syntax check is not vacuous: a stanza with an unknown method fails it."""
    (tmp_path / "interfaces").write_text(UNMANAGED.replace("iface eno4 inet dhcp", "iface eno4 inet dhpc"))
    proc = _ifupdown2_check(tmp_path / "interfaces")
    assert proc.returncode != 0 and "unsupported address method 'dhpc'" in proc.stderr
