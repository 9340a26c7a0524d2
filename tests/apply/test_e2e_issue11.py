"""Issue 11, items 2, 7, 8 and 9: apply against a lab that behaves as Proxmox VE does
(tests/lab/ shows each behaviour directly). Each test fails with today's playbooks, for the
reason its xfail mark gives; the marks go as the product is fixed."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from e2e_lab import PROVISION, REPO, Lab, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

LINK1 = "    - {number: 1, network: 10.10.11.0/24, priority: 10}\n"


def _stack(lab: Lab, name: str, edit: object) -> Path:
    text = (REPO / "stacks" / "lab.yaml").read_text()
    new = edit(text)  # type: ignore[operator]
    assert new != text, "the edit must change the stack"
    path = lab.work / name
    path.write_text(new)
    return path


def _apply(lab: Lab, stack: Path, *extra: str) -> str:
    p = lab.cli("apply", str(stack), "--auto-approve", *extra)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    return out


def _json(lab: Lab, node: str, path: str) -> object:
    p = lab.node_cli(node, "pvesh", "get", path, "--output-format", "json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@contextmanager
def _running(factory: pytest.TempPathFactory, *up_args: str, work: Path | None = None) -> Iterator[Lab]:
    lab = start(factory.mktemp("home"), work or factory.mktemp("work"), *up_args)
    try:
        yield lab
    finally:
        stop(lab)


@pytest.fixture(scope="module")
def built(built_lab: Lab) -> Lab:
    """A lab that already runs stacks/lab.yaml (conftest's built_lab)."""
    return built_lab


def test_adding_a_corosync_link_converges(built: Lab) -> None:
    stack = _stack(built, "link2.yaml", lambda t: t.replace(LINK1, LINK1 + "    - {number: 2, network: "
                                                              "192.168.10.0/24, priority: 5}\n"))
    _apply(built, stack)
    totem = _json(built, "pve02", "/cluster/config/totem")
    assert isinstance(totem, dict) and "2" in totem["interface"]
    conf = (built.lab_dir / "nodes" / "pve03" / "root" / "etc" / "pve" / "corosync.conf").read_text()
    assert conf.count("ring2_addr: 192.168.10.") == 3
    assert built.cli("plan", str(stack), "--detailed-exitcode").returncode == 0


def test_a_failed_pool_task_fails_the_action_with_pves_error(built: Lab) -> None:
    stack = _stack(built, "badrule.yaml", lambda t: t.replace(
        "  pools:\n", "  pools:\n    - {name: fast-pool, size: 3, min_size: 2, crush_rule: no-such-rule}\n", 1))
    p = built.cli("apply", str(stack), "--auto-approve")
    out = p.stdout + p.stderr
    assert p.returncode == 1
    assert "crush_rule 'no-such-rule' does not exist" in out
    assert "did not converge" not in out  # the action failed; apply did not have to find out afterwards


def test_pbs_password_is_not_an_argv_value(built: Lab) -> None:
    stack = _stack(built, "pbs2.yaml", lambda t: t.replace(
        "storage:\n", "storage:\n  - {name: pbs-dash, type: pbs, server: 192.168.10.7, datastore: main, "
        "username: backup@pbs, password: {env: PBS_DASH}, content: [backup]}\n", 1))
    env_password = "-dash-first-secret"
    p = subprocess.run([*PROVISION, "apply", str(stack), "--auto-approve"], cwd=built.work,
                       env={**built.env, "PBS_DASH": env_password}, capture_output=True, text=True, timeout=900,
                       input="", check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    pw = built.lab_dir / "nodes" / "pve01" / "root" / "etc" / "pve" / "priv" / "storage" / "pbs-dash.pw"
    assert pw.read_text() == env_password + "\n"


def test_ha_crs_is_applied_and_read_back(built: Lab) -> None:
    text = (REPO / "stacks" / "lab.yaml").read_text()
    assert re.search(r"^ha:\n", text, re.M)
    stack = _stack(built, "crs.yaml", lambda t: re.sub(r"^ha:\n", "ha:\n  crs: static\n", t, count=1, flags=re.M))
    # options the stack does not manage, set by an admin: they must survive
    assert built.node_cli("pve02", "pvesh", "set", "/cluster/options", "--crs", "ha-rebalance-on-start=1",
                          "--keyboard", "de").returncode == 0
    _apply(built, stack)
    opts = _json(built, "pve01", "/cluster/options")
    assert isinstance(opts, dict) and opts.get("crs") == {"ha": "static", "ha-rebalance-on-start": 1}
    assert opts.get("keyboard") == "de"
    assert built.cli("plan", str(stack), "--detailed-exitcode").returncode == 0
    # and a change made outside shows up in the plan
    built.node_cli("pve01", "pvesh", "set", "/cluster/options", "--crs", "ha=basic")
    assert built.cli("plan", str(stack), "--detailed-exitcode").returncode == 2


@pytest.fixture(scope="module")
def realtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """stacks/lab.yaml without its MDS and CephFS, with the lab's delays in real time."""
    work = tmp_path_factory.mktemp("work")
    text = (REPO / "stacks" / "lab.yaml").read_text()
    seed = re.sub(r"^  mdss: .*\n", "", text, flags=re.M)
    seed = re.sub(r"^  filesystems:\n(    - .*\n)+", "", seed, flags=re.M)
    seed = re.sub(r"^  - \{name: cephfs, type: cephfs.*\n", "", seed, flags=re.M)
    assert "mdss" not in seed and "filesystems" not in seed and "type: cephfs" not in seed
    (work / "seed.yaml").write_text(seed)
    with _running(tmp_path_factory, "--from", str(work / "seed.yaml"), "--time-scale", "1", work=work) as lab:
        yield lab


def test_cephfs_waits_for_a_standby_mds(realtime: Lab) -> None:
    _apply(realtime, REPO / "stacks" / "lab.yaml")
    fs = _json(realtime, "pve01", "/nodes/pve01/ceph/fs")
    assert isinstance(fs, list) and [f["name"] for f in fs] == ["cephfs"]


@pytest.fixture(scope="module")
def with_qdevice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """stacks/lab.yaml plus a QDevice (LMS), already running."""
    work = tmp_path_factory.mktemp("work")
    text = (REPO / "stacks" / "lab.yaml").read_text() + "quorum:\n  qdevice: {host: 192.168.10.5, algorithm: lms}\n"
    (work / "qdevice.yaml").write_text(text)
    with _running(tmp_path_factory, "--from", str(work / "qdevice.yaml"), work=work) as lab:
        yield lab


def test_a_stopped_qdevice_daemon_is_not_a_missing_qdevice(with_qdevice: Lab) -> None:
    stack = with_qdevice.work / "qdevice.yaml"
    assert with_qdevice.cli("plan", str(stack), "--detailed-exitcode").returncode == 0
    for node in ("pve01", "pve02", "pve03"):  # the daemon is down everywhere (say, after an upgrade)
        assert with_qdevice.node_cli(node, "systemctl", "stop", "corosync-qdevice").returncode == 0
    plan = with_qdevice.cli("plan", str(stack), "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    # the daemon's state is reported on its own, not as a missing QDevice
    assert "corosync-qdevice is not running on pve01" in plan.stdout + plan.stderr
