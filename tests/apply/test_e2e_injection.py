"""Stack text is data: template markers in comments and options reach PVE as literal
text and are never evaluated by Ansible, in check mode or in a real apply.

The stack gets values that would run a command on the controller if Ansible ever
templated them; the real `provision apply` runs real ansible-playbook against the lab.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_lab import Lab, stack_copy

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]


@pytest.fixture(scope="module")
def lab(built_lab: Lab) -> Lab:
    return built_lab


def _hostile(marker: Path, n: int) -> str:
    return f"{{{{ lookup('pipe', 'touch {marker}.{n}') }}}}"


def test_template_markers_in_stack_values_are_never_evaluated(lab: Lab, tmp_path: Path) -> None:
    marker = tmp_path / "evaluated"
    group_comment = _hostile(marker, 1)
    resource_comment = "{% for x in [1] %}" + _hostile(marker, 2) + "{% endfor %}"
    nfs_options = "vers=4.2,{{ lookup('pipe', 'touch " + str(marker) + ".3') }}"

    def edit(text: str) -> str:
        text = text.replace("{sid: \"ct:200\", group: web, comment: internal DNS}",
                            "{sid: \"ct:200\", group: web, comment: " + json.dumps(resource_comment) + "}")
        text = text.replace("    options: vers=4.2", "    options: " + json.dumps(nfs_options))
        return text.replace("  groups:\n", "  groups:\n    - {name: hostile, nodes: {pve01: 1}, comment: "
                            + json.dumps(group_comment) + "}\n", 1)

    stack = stack_copy(tmp_path / "hostile.yaml", edit)
    check = lab.cli("apply", str(stack), "--auto-approve", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list(tmp_path.glob("evaluated*")), "check mode evaluated a stack value"

    applied = lab.cli("apply", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not list(tmp_path.glob("evaluated*")), "apply evaluated a stack value"

    group = json.loads(lab.node_cli("pve01", "pvesh", "get", "/cluster/ha/groups/hostile",
                                    "--output-format", "json").stdout)
    assert group["comment"] == group_comment
    res = json.loads(lab.node_cli("pve01", "pvesh", "get", "/cluster/ha/resources/ct:200",
                                  "--output-format", "json").stdout)
    assert res["comment"] == resource_comment
    nfs = json.loads(lab.node_cli("pve01", "pvesh", "get", "/storage/nfs-iso", "--output-format", "json").stdout)
    assert nfs["options"] == nfs_options
    replan = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert replan.returncode == 0, replan.stdout + replan.stderr
