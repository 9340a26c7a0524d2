"""Corosync link changes through apply: the documented corosync.conf edit protocol
(edit a copy, bump config_version, move it into place) on a node's /etc/pve, which the
lab mounts through FUSE with pmxcfs's rules (tests/lab/test_pmxcfs.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from e2e_lab import REPO, Lab, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

LINK1 = "{number: 1, network: 10.10.11.0/24, priority: 10}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work"),
                "--from", str(REPO / "stacks" / "lab.yaml"))
    try:
        yield lab
    finally:
        stop(lab)


def test_link_priority_change_is_applied_and_converges(lab: Lab) -> None:
    stack = lab.work / "lab.yaml"
    text = (REPO / "stacks" / "lab.yaml").read_text()
    assert LINK1 in text
    stack.write_text(text.replace(LINK1, LINK1.replace("priority: 10", "priority: 15")))
    before = lab.node_cli("pve01", "pvesh", "get", "/cluster/config/totem", "--output-format", "json").stdout
    version = int(re.search(r'"config_version":"(\d+)"', before).group(1))  # type: ignore[union-attr]

    applied = lab.cli("apply", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "corosync_link_set" in applied.stdout

    totem = lab.node_cli("pve03", "pvesh", "get", "/cluster/config/totem", "--output-format", "json").stdout
    assert '"knet_link_priority":"15"' in totem
    assert f'"config_version":"{version + 1}"' in totem  # bumped exactly once
    replan = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert replan.returncode == 0, replan.stdout + replan.stderr
    again = lab.cli("apply", str(stack), "--auto-approve")
    assert again.returncode == 0 and "No changes." in again.stdout
    assert len(lab.runs()) == 1
    assert not (lab.work / ".provision").exists()  # state lives under $PROVISION_HOME
