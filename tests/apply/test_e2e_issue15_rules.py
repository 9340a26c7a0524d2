"""Issue 15 (PVE 9.x HA rules) on a converged PVE 9 lab: a rule's `disable` and a
negative node-affinity rule round-trip through plan, apply, discovery and import; a
rule PVE would drop as infeasible is refused at plan time at its place in the stack."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_lab import REPO, Lab, start, stop
from ruamel.yaml import YAML

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

LICENSED = "      nodes: {pve04: 1, pve05: 1}\n      strict: true\n"
#: the example's first two rules: the lab starts without them, the first test adds both
FIRST_TWO = ('    - type: node-affinity\n      name: web-prefer\n      resources: ["vm:100", "vm:101"]\n'
             '      nodes: {pve01: 2, pve02: 2, pve03: 1}\n    - type: resource-affinity\n      name: db-apart\n'
             '      resources: ["vm:110", "vm:111"]\n      affinity: negative\n')


def _stack(path: Path, licensed: str = LICENSED, extra_rule: str = "") -> Path:
    text = (REPO / "stacks" / "pve9-example.yaml").read_text()
    text = re.sub(r"connection:\n  api:\n(    .*\n)+", "connection:\n  lab: default\n", text)
    assert LICENSED in text
    text = text.replace(LICENSED, licensed + extra_rule)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def pve9(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("work")
    base = _stack(work / "base.yaml")
    assert FIRST_TWO in base.read_text()
    base.write_text(base.read_text().replace(FIRST_TWO, ""))
    lab = start(tmp_path_factory.mktemp("home"), work, "--pve", "9", "--nodes", "5", "--from", str(base))
    try:
        yield lab
    finally:
        stop(lab)


def _converges(lab: Lab, stack: Path) -> None:
    applied = lab.cli("apply", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def _imported_rule(lab: Lab, name: str) -> dict[str, Any]:
    """`provision import`'s stack, its rule `name`."""
    out = lab.work / f"import-{name}.yaml"
    proc = lab.cli("import", "--lab", "default", "--out", str(out), "--force")
    assert proc.returncode == 0, proc.stderr
    rules = YAML(typ="safe").load(out.read_text())["ha"]["rules"]
    return dict(next(r for r in rules if r["name"] == name))


def test_consecutive_rule_adds_are_one_task(pve9: Lab) -> None:
    """Both missing rules are added by one pve_batch task (issue 17, bulk kinds)."""
    _converges(pve9, _stack(pve9.work / "full.yaml"))
    events = [json.loads(line) for line in (pve9.runs()[-1] / "events.jsonl").read_text().splitlines()]
    [adds] = [e for e in events if e["event"] == "runner_on_ok" and "ha-manager rules add" in e["event_data"]["task"]]
    assert adds["event_data"]["task_action"] == "pve_batch" and len(adds["event_data"]["res"]["ran"]) == 2
    rules = pve9.node_cli("pve01", "pvesh", "get", "/cluster/ha/rules", "--output-format", "json").stdout
    assert {r["rule"] for r in json.loads(rules)} >= {"web-prefer", "db-apart", "licensed"}


def test_disable_round_trips_and_a_disabled_rule_is_enabled_again(pve9: Lab) -> None:
    disabled = _stack(pve9.work / "disabled.yaml", LICENSED + "      disable: true\n")
    plan = pve9.cli("plan", str(disabled))
    assert '~ ha.rule["licensed"]' in plan.stdout, plan.stdout + plan.stderr
    _converges(pve9, disabled)
    rule = pve9.node_cli("pve01", "pvesh", "get", "/cluster/ha/rules/licensed", "--output-format", "json").stdout
    assert '"disable":1' in rule, rule
    assert _imported_rule(pve9, "licensed")["disable"] is True
    # PVE ignores `--disable 0`: apply must delete the flag, or this never converges
    _converges(pve9, _stack(pve9.work / "enabled.yaml"))
    assert "disable" not in pve9.node_cli("pve01", "pvesh", "get", "/cluster/ha/rules/licensed",
                                          "--output-format", "json").stdout


def test_negative_node_affinity_round_trips(pve9: Lab) -> None:
    avoid = _stack(pve9.work / "avoid.yaml", "      nodes: {pve01: 0, pve02: 0, pve03: 0}\n      strict: true\n"
                   "      affinity: negative\n")
    _converges(pve9, avoid)
    rule = pve9.node_cli("pve01", "pvesh", "get", "/cluster/ha/rules/licensed", "--output-format", "json").stdout
    assert '"affinity":"negative"' in rule and '"nodes":"pve01,pve02,pve03"' in rule
    assert _imported_rule(pve9, "licensed")["affinity"] == "negative"
    # back to the positive rule: `affinity` is deleted (its default), not sent
    _converges(pve9, _stack(pve9.work / "prefer.yaml"))


def test_a_rule_pve_would_drop_is_refused_at_plan_time(pve9: Lab) -> None:
    bad = _stack(pve9.work / "infeasible.yaml", LICENSED,
                 "    - type: node-affinity\n      name: nowhere\n      resources: [\"vm:100\"]\n"
                 "      nodes: {pve01: 0, pve02: 0, pve03: 0, pve04: 0, pve05: 0}\n      affinity: negative\n")
    plan = pve9.cli("plan", str(bad))
    assert plan.returncode == 1
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), start=1) if "pve05: 0}" in text)
    assert re.search(rf"infeasible\.yaml:{line}:\d+: ha\.rule\[\"nowhere\"\]: PVE ignores this rule: negative node "
                     r"affinity rule must not specify all cluster nodes", plan.stderr), plan.stderr
    assert "resource 'vm:100' is already used in another node affinity rule" in plan.stderr
    assert "Traceback" not in plan.stderr
    validate = pve9.cli("validate", str(bad))
    assert validate.returncode == 1 and "PVE-HA030" in validate.stdout + validate.stderr
