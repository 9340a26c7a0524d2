"""A QDevice added to a built cluster, through `provision apply` against a lab whose
`pvecm qdevice setup` needs what PVE's needs (pve-cluster `PVE/CLI/pvecm.pm`): root SSH
trust to the QNetd host, `corosync-qnetd` there and `corosync-qdevice` on every node.
Nobody prepared them: the plan does, visibly, and a re-plan is empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_lab import Lab, stack_copy, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

QNETD = "192.168.10.5"


@pytest.fixture(scope="module")
def built_with_qnetd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """stacks/lab.yaml already built, plus a freshly installed Debian host for corosync-qnetd."""
    work = tmp_path_factory.mktemp("work")
    lab = start(tmp_path_factory.mktemp("home"), work, "--from", str(stack_copy(work / "base.yaml")),
                "--qnetd", QNETD)
    try:
        yield lab
    finally:
        stop(lab)


def _with_qdevice(lab: Lab, algorithm: str) -> Path:
    path = lab.work / f"qdevice-{algorithm}.yaml"
    path.write_text((lab.work / "base.yaml").read_text()
                    + f"quorum:\n  qdevice: {{host: {QNETD}, algorithm: {algorithm}}}\n")
    return path


def test_apply_prepares_the_qnetd_host_and_the_nodes(built_with_qdevice_stack: tuple[Lab, Path]) -> None:
    lab, stack = built_with_qdevice_stack
    plan = lab.cli("plan", str(stack))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    for visible in ("qdevice_install", "qnetd_install", "ssh_trust", "qdevice_setup"):
        assert visible in plan.stdout, plan.stdout
    p = lab.cli("apply", str(stack), "--auto-approve")
    assert p.returncode == 0, p.stdout + p.stderr
    conf = (lab.lab_dir / "nodes" / "pve02" / "root" / "etc" / "pve" / "corosync.conf").read_text()
    assert f"host: {QNETD}" in conf and "algorithm: lms" in conf
    known = (lab.lab_dir / "nodes" / "pve01" / "root" / "root" / ".ssh" / "known_hosts").read_text()
    assert known.startswith(f"{QNETD} ssh-ed25519 ") or f"\n{QNETD} ssh-ed25519 " in known
    again = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.fixture(scope="module")
def built_with_qdevice_stack(built_with_qnetd: Lab) -> tuple[Lab, Path]:
    return built_with_qnetd, _with_qdevice(built_with_qnetd, "lms")


def test_ffsplit_on_an_odd_node_count_is_refused_with_the_fix(built_with_qnetd: Lab) -> None:
    """pvecm qdevice setup refuses ffsplit on 3 nodes and sets up lms with --force: the
    stack could never converge, so plan refuses it and names the fix."""
    stack = _with_qdevice(built_with_qnetd, "ffsplit")
    p = built_with_qnetd.cli("plan", str(stack))
    assert p.returncode == 1
    lines = (p.stdout + p.stderr).strip().splitlines()
    where = f"{stack}:{len(stack.read_text().splitlines())}:"
    assert any(line.startswith(where) and "QDevice algorithm ffsplit on 3 nodes" in line for line in lines), lines
    assert "set algorithm: lms" in p.stdout + p.stderr  # the fix is named
    assert "Traceback" not in p.stdout + p.stderr
