"""Network apply against the lab is an edit of the node's file (issue 12): a bond MTU
change keeps an IPv6 stanza with its gateway and post-up route, an OVS bridge with an
IPv6 internal port, a VLAN on DHCP, `hwaddress` and the `source` line byte for byte, and
the cluster then plans to zero changes."""

from __future__ import annotations

import difflib
import json
import time

import pytest
from e2e_lab import Lab, stack_copy

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

BOND0_PVE01 = "        primary: eno2\n        address: 10.10.10.11/24\n"

EXTRA = """\
auto vmbr0.99
iface vmbr0.99 inet dhcp

auto vmbr9
iface vmbr9 inet manual
\tovs_type OVSBridge
\tovs_ports mgmt6

auto mgmt6
iface mgmt6 inet6 static
\taddress fd00:99::11/64
\tgateway fd00:99::1
\tovs_type OVSIntPort
\tovs_bridge vmbr9
\tpost-up ip -6 route add fd00:98::/64 via fd00:99::fe
#out-of-band v6 management
"""


@pytest.fixture(scope="module")
def lab(built_lab: Lab) -> Lab:
    return built_lab


def _with_unmanaged(text: str) -> str:
    """The seeded pve01 file plus what an admin added by hand, through PVE's own layout."""
    text = text.replace("\tbond-primary eno2\n", "\tbond-primary eno2\n\tpost-up ip route add 10.10.12.0/24 via "
                                                   "10.10.10.254\n")
    text = text.replace("\tbridge-fd 0\n", "\tbridge-fd 0\n\thwaddress bc:24:11:01:00:01\n", 1)
    return text.replace("\nsource ", f"\n{EXTRA}\nsource ", 1) if "\nsource " in text else text + "\n" + EXTRA


def test_bond_mtu_change_keeps_everything_the_stack_does_not_manage(lab: Lab) -> None:
    path = lab.lab_dir / "nodes" / "pve01" / "root" / "etc" / "network" / "interfaces"
    # an admin's edits, then PVE's layout (what any GUI edit leaves): the lab's own writer
    path.write_text(_with_unmanaged(path.read_text()))
    proc = lab.node_cli("pve01", "pvesh", "set", "/nodes/pve01/network/vmbr0", "--comments", "management")
    assert proc.returncode == 0, proc.stderr
    assert lab.node_cli("pve01", "ifreload", "-a").returncode == 0
    before = path.read_text()
    assert "iface mgmt6 inet6 static" in before and "iface vmbr0.99 inet dhcp" in before

    stack = stack_copy(lab.work / "mtu.yaml", lambda t: t.replace(
        BOND0_PVE01, BOND0_PVE01 + "        mtu: 9000\n        comment: management\n", 1).replace(
        "        address: 192.168.10.11/24\n", "        address: 192.168.10.11/24\n        comment: management\n", 1))
    plan = lab.cli("plan", str(stack), "--format", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    files = json.loads(plan.stdout)["files"]
    assert [f["node"] for f in files] == ["pve01"]
    # the reviewer sees exactly the lines apply will change
    assert [r for r in files[0]["diff"] if r[:1] in "+-" and r[:3] not in ("+++", "---")] == \
        ["+\tmtu 9000", "+#management"]

    proc = lab.cli("apply", str(stack), "--auto-approve")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    after = path.read_text()
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["+\tmtu 9000", "+#management"], changed
    again = lab.cli("plan", str(stack))
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout


def test_a_change_that_cuts_the_management_address_is_rolled_back_by_the_node(lab: Lab) -> None:
    """pve01 and pve02 move vmbr0 to .111: the lab cuts pve01 off after its reload (its
    management address is gone), the check fails, apply stops before pve02, and pve01's own
    timer puts the previous file back."""
    files = {n: lab.lab_dir / "nodes" / n / "root" / "etc" / "network" / "interfaces" for n in ("pve01", "pve02")}
    before = {n: p.read_text() for n, p in files.items()}

    def move(text: str) -> str:
        for i in ("11", "12"):
            text = text.replace(f"    address: 192.168.10.{i}\n", f"    address: 192.168.10.1{i}\n", 1)
            text = text.replace(f"        address: 192.168.10.{i}/24\n", f"        address: 192.168.10.1{i}/24\n", 1)
        return text

    stack = stack_copy(lab.work / "cut.yaml", move)
    proc = lab.cli("apply", str(stack), "--auto-approve", "--network-confirm", "20", "--format", "json")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert final["failed"] == ['network["pve01"]#apply']
    assert final["not_done"] == ['network["pve02"]#apply']
    assert any("pve01 did not confirm its network change" in e and "puts back its previous" in e
               for e in final["errors"]), final["errors"]
    assert files["pve02"].read_text() == before["pve02"]  # the next node was never touched

    # pve01 is cut off from the controller until its own timer reverts the change
    cut = lab.node_cli("pve01", "pvesh", "get", "/version")
    reverted = lab.lab_dir / "nodes" / "pve01" / "root" / "run" / "pve-lab-cut-off"
    assert (cut.returncode == 255 and "No route to host" in cut.stderr) or not reverted.exists()
    for _ in range(600):  # the revert fires 20 s after it was scheduled
        if not reverted.exists() and files["pve01"].read_text() == before["pve01"]:
            break
        time.sleep(0.1)
    assert files["pve01"].read_text() == before["pve01"]
    assert lab.node_cli("pve01", "pvesh", "get", "/version").returncode == 0
    again = lab.cli("plan", str(stack))
    assert 'network["pve01"].bridge["vmbr0"]' in again.stdout, again.stdout
