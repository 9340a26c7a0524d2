"""Issue 15 part 1: the HA policy and datacenter options round-trip through a lab that
answers as PVE does: seeded by `lab up --from`, changed in the stack, applied, planned
again to zero changes and imported back with the same values. Options and sub-keys the
stack does not manage survive (PVE replaces an option as a whole)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_lab import REPO, Lab, start, stop

from provision.spec import load_stack

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

SEEDED = ("ha:\n  shutdown_policy: freeze\n", "datacenter:\n  email_from: seed@example.com\n")
CHANGED = ("ha:\n  crs: static\n  shutdown_policy: migrate\n  rebalance_on_start: true\n",
           "datacenter:\n"
           "  migration: {type: insecure}\n"
           "  email_from: pve@example.com\n"
           "  max_workers: 4\n"
           "  bwlimit: {migration: 102400}\n"
           "  next_id: {lower: 1000, upper: 200000}\n")


def _write(work: Path, name: str, ha: str, datacenter: str, watchdog: str = "") -> Path:
    text = (REPO / "stacks" / "lab.yaml").read_text()
    assert re.search(r"^ha:\n", text, re.M) and "\ndatacenter:" not in text
    if watchdog:  # pve03's hardware watchdog
        assert "    address: 192.168.10.13\n" in text
        line = f"    ha_watchdog_module: {watchdog}\n"
        text = text.replace("    address: 192.168.10.13\n", "    address: 192.168.10.13\n" + line)
    text = re.sub(r"^ha:\n", ha, text, count=1, flags=re.M) + "\n" + datacenter
    path = work / name
    path.write_text(text)
    return path


def _options(lab: Lab) -> dict[str, object]:
    p = lab.node_cli("pve02", "pvesh", "get", "/cluster/options", "--output-format", "json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert isinstance(out, dict)
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("work")
    seeded = _write(work, "seeded.yaml", *SEEDED, watchdog="iTCO_wdt")
    handle = start(tmp_path_factory.mktemp("home"), work, "--from", str(seeded))
    try:
        yield handle
    finally:
        stop(handle)


def test_a_lab_seeded_with_the_options_plans_to_zero_changes(lab: Lab) -> None:
    opts = _options(lab)
    assert opts["ha"] == {"shutdown_policy": "freeze"} and opts["email_from"] == "seed@example.com"
    default = lab.lab_dir / "nodes" / "pve03" / "root" / "etc" / "default" / "pve-ha-manager"
    assert "WATCHDOG_MODULE=iTCO_wdt" in default.read_text().splitlines()
    p = lab.cli("plan", str(lab.work / "seeded.yaml"), "--detailed-exitcode")
    assert p.returncode == 0, p.stdout + p.stderr


def test_changed_options_apply_converge_and_import_back(lab: Lab) -> None:
    # set by an admin, not managed by the stack: they must survive the apply
    assert lab.node_cli("pve01", "pvesh", "set", "/cluster/options", "--keyboard", "de", "--migration",
                        "secure,network=10.40.40.0/24", "--bwlimit", "clone=5000").returncode == 0
    stack = _write(lab.work, "changed.yaml", *CHANGED)
    plan = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "datacenter" in plan.stdout and "datacenter.max_workers" in plan.stdout
    p = lab.cli("apply", str(stack), "--auto-approve")
    assert p.returncode == 0, p.stdout + p.stderr
    opts = _options(lab)
    assert opts["crs"] == {"ha": "static", "ha-rebalance-on-start": 1}  # a number, as PVE answers
    assert opts["ha"] == {"shutdown_policy": "migrate"}
    assert opts["migration"] == {"type": "insecure", "network": "10.40.40.0/24"}  # network kept
    assert opts["bwlimit"] == "clone=5000,migration=102400"  # clone kept; PVE returns bwlimit as text
    assert (opts["email_from"], opts["max_workers"], opts["keyboard"]) == ("pve@example.com", "4", "de")
    assert opts["next-id"] == {"lower": "1000", "upper": "200000"}
    again = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    imported = lab.work / "imported.yaml"
    p = lab.cli("import", "--lab", "default", "--out", str(imported), "--force")
    assert p.returncode == 0, p.stdout + p.stderr
    got, want = load_stack(imported).cluster, load_stack(stack).cluster
    for name in ("crs", "shutdown_policy", "rebalance_on_start", "auto_rebalance"):
        assert getattr(got.ha, name) == getattr(want.ha, name), name
    assert got.datacenter.email_from == want.datacenter.email_from
    assert got.datacenter.max_workers == want.datacenter.max_workers
    assert got.datacenter.next_id == want.datacenter.next_id
    assert got.datacenter.bwlimit is not None and got.datacenter.bwlimit.migration == 102400
    assert got.datacenter.bwlimit.clone == 5000  # what the cluster has, the stack or not
    assert got.datacenter.migration is not None and str(got.datacenter.migration.network) == "10.40.40.0/24"
    p = lab.cli("plan", str(imported), "--detailed-exitcode")
    assert p.returncode == 0, p.stdout + p.stderr


def test_an_option_changed_outside_shows_in_the_plan(lab: Lab) -> None:
    stack = lab.work / "changed.yaml"
    assert stack.exists(), "runs after the apply test"
    assert lab.node_cli("pve03", "pvesh", "set", "/cluster/options", "--max_workers", "8").returncode == 0
    p = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert p.returncode == 2, p.stdout + p.stderr
    assert re.search(r"datacenter\.max_workers.*8.*4", p.stdout), p.stdout


def test_the_watchdog_module_is_checked_on_the_node_at_every_apply(lab: Lab) -> None:
    """No API shows /etc/default/pve-ha-manager: the plan has no change for it, only the
    check, and apply edits the node's file where it differs."""
    base = (lab.work / "changed.yaml").read_text()
    # undo the previous test's outside change
    assert lab.node_cli("pve03", "pvesh", "set", "/cluster/options", "--max_workers", "4").returncode == 0
    assert "    address: 192.168.10.12\n" in base
    stack = lab.work / "watchdog.yaml"
    stack.write_text(base.replace("    address: 192.168.10.12\n",
                                  "    address: 192.168.10.12\n    ha_watchdog_module: ipmi_watchdog\n", 1))
    default = lab.lab_dir / "nodes" / "pve02" / "root" / "etc" / "default" / "pve-ha-manager"
    assert "#WATCHDOG_MODULE=ipmi_watchdog" in default.read_text()  # as the package installs it
    plan = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "ha_watchdog_set" in plan.stdout or "ensure-watchdog" in plan.stdout, plan.stdout
    p = lab.cli("apply", str(stack), "--auto-approve")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = default.read_text().splitlines()
    assert "WATCHDOG_MODULE=ipmi_watchdog" in lines and "#WATCHDOG_MODULE=ipmi_watchdog" not in lines
    other = lab.lab_dir / "nodes" / "pve01" / "root" / "etc" / "default" / "pve-ha-manager"
    assert "#WATCHDOG_MODULE=ipmi_watchdog" in other.read_text()  # a node without the key is left alone
    again = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
