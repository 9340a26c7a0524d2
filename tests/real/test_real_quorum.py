"""A blank real lab (real corosync per node) built by ``provision apply``: our playbooks
create and join a real cluster, and each failure ends in the quorum that ``provision
simulate`` predicts for it.

The stack is tests/real/stacks/quorum.yaml: stacks/lab.yaml's nodes, corosync links and HA
resources without its Ceph and bonds, which the real lab runs through the simulated lab's
code (tests/apply/test_e2e.py builds them) and which would triple the apply. One real lab
for the whole build and fault matrix, so everything runs in one test, in order; every
fault is undone and the full membership awaited before the next. Timing lives in
bench/real_lab.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from real_lab import (
    REPO,
    RealLab,
    fault_matches,
    ha_of,
    observed,
    predicted,
    simulated,
    stack_copy,
    up,
    wait_for,
    wait_ha,
    wait_knet,
    workdir,
)

from provision.lab.procs import alive

pytestmark = pytest.mark.e2e

ALL = ("pve01", "pve02", "pve03")
QUORUM = REPO / "tests" / "real" / "stacks" / "quorum.yaml"


def _whole(lab: RealLab, nodes: tuple[str, ...] = ALL, votes: int = 3) -> None:
    wait_for(lab, {n: (nodes, votes, True) for n in nodes}, "healthy cluster")


def test_apply_then_failures_match_simulate() -> None:
    with workdir() as tmp_path:
        _apply_then_failures(tmp_path)


def _apply_then_failures(tmp_path: Path) -> None:
    lab = up(tmp_path / "home", tmp_path, "--blank")
    try:
        stack = stack_copy(tmp_path / "quorum.yaml", src=QUORUM)
        proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json", timeout=1800)  # hang guard only
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        replan = lab.cli("plan", str(stack), "--detailed-exitcode")
        assert replan.returncode == 0, replan.stdout + replan.stderr

        status = lab.node_cli("pve02", "pvecm", "status")
        assert status.returncode == 0, status.stderr
        assert "Quorate:          Yes" in status.stdout and "Total votes:      3" in status.stdout
        _whole(lab)

        for node in ALL:  # power off one node: corosync dies with it
            doc = simulated(lab, stack, "--fail", node)
            ha = ha_of(doc) if node == "pve01" else None
            fault_matches(lab, stack, ["--fail", node], ["fail", node], doc=doc)
            if ha is not None:  # the HA manager acts on the real membership change
                assert "pve01" not in ha.values() and ha
                wait_ha(lab, ha, f"HA after fail {node}")
            lab.ok("lab", "recover", node)
            _whole(lab)

        # one of two links down: knet fails over, everyone stays in one quorate membership
        want = predicted(lab, stack, "--link-down", "pve01:0")
        lab.ok("lab", "link-down", "pve01", "0")
        wait_knet(lab, "pve02", "pve01", "0", "disconnected")
        assert observed(lab.status()) == want
        assert lab.status()["real"]["knet"]["pve02"]["1"]["pve01"] == "connected"

        # both links of pve01 down: it is cut off alone
        want = fault_matches(lab, stack, ["--link-down", "pve01:0", "--link-down", "pve01:1"],
                             ["link-down", "pve01", "1"])
        assert not want["pve01"][2] and want["pve02"][2]
        lab.ok("lab", "heal")
        _whole(lab)

        want = fault_matches(lab, stack, ["--partition", "pve01,pve02/pve03"], ["partition", "pve01,pve02", "pve03"])
        assert want["pve01"][2] and not want["pve03"][2]
        lab.ok("lab", "heal")
        _whole(lab)
    finally:
        lab.cli("lab", "down", timeout=120)


def test_single_link_failure_splits_the_node_off_and_down_leaves_nothing() -> None:
    """Also the real lab's life cycle: ``lab down`` removes every namespace, daemon and file
    the lab made (once tests/real/test_real_lifecycle.py's own lab up; this lab serves both)."""
    with workdir() as tmp_path:
        _single_link(tmp_path)


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _single_link(tmp_path: Path) -> None:
    def one_link(text: str) -> str:
        line = "    - {number: 1, network: 10.10.11.0/24, priority: 10}\n"
        assert line in text
        return text.replace(line, "")

    stack = stack_copy(tmp_path / "one-link.yaml", one_link, src=QUORUM)
    lab = up(tmp_path / "home", tmp_path, "--from", str(stack))
    down = False
    try:
        real = lab.status()["real"]
        namespaces, pids = set(real["namespaces"]), list(real["daemons"].values())
        assert len(namespaces) == 4 and namespaces <= _netns()  # switch + 3 nodes
        assert len(pids) == 3 and all(alive(p) for p in pids)
        assert lab.lab_dir.exists()

        assert set(real["links"]) == {f"{n}/0" for n in ALL}
        _whole(lab)
        want = fault_matches(lab, stack, ["--link-down", "pve03:0"], ["link-down", "pve03", "0"])
        assert not want["pve03"][2]

        down = True
        lab.ok("lab", "down")
        assert not namespaces & _netns()
        assert not [p for p in pids if alive(p)]
        assert not lab.lab_dir.exists()
    finally:
        if not down:
            lab.cli("lab", "down", timeout=120)


def test_two_nodes_with_qdevice_match_simulate() -> None:
    with workdir() as tmp_path:
        _qdevice(tmp_path)


def _qdevice(tmp_path: Path) -> None:
    """ffsplit: in a 50:50 split qnetd gives its vote to the half with the lowest node id;
    when a node dies, the survivor gets it."""
    stack = REPO / "tests" / "real" / "stacks" / "two-node-qdevice.yaml"
    duo = ("pve01", "pve02")
    lab = up(tmp_path / "home", tmp_path, "--from", str(stack))
    try:
        assert set(lab.status()["real"]["daemons"]) == {
            "corosync/pve01", "corosync/pve02", "corosync-qdevice/pve01", "corosync-qdevice/pve02",
            "corosync-qnetd/@qnetd"}
        _whole(lab, duo, 3)  # two node votes + the QDevice's
        pvecm = lab.node_cli("pve01", "pvecm", "status")
        assert "Flags:            Quorate Qdevice" in pvecm.stdout, pvecm.stdout + pvecm.stderr

        want = fault_matches(lab, stack, ["--partition", "pve01/pve02"], ["partition", "pve01", "pve02"])
        assert want["pve01"][2] and not want["pve02"][2]
        lab.ok("lab", "heal")
        _whole(lab, duo, 3)

        # one of two links: knet fails over, nothing changes; both: a 50:50 split again
        want = predicted(lab, stack, "--link-down", "pve02:0")
        lab.ok("lab", "link-down", "pve02", "0")
        wait_knet(lab, "pve01", "pve02", "0", "disconnected")
        assert observed(lab.status()) == want == {n: (duo, 3, True) for n in duo}
        want = fault_matches(lab, stack, ["--link-down", "pve02:0", "--link-down", "pve02:1"],
                             ["link-down", "pve02", "1"])
        assert want["pve01"][2] and not want["pve02"][2]
        lab.ok("lab", "heal")
        _whole(lab, duo, 3)

        want = fault_matches(lab, stack, ["--fail", "pve01"], ["fail", "pve01"])
        assert want == {"pve02": (("pve02",), 2, True)}
        lab.ok("lab", "recover", "pve01")  # its corosync and qdevice start again: 3 votes
        _whole(lab, duo, 3)
    finally:
        lab.cli("lab", "down", timeout=120)
