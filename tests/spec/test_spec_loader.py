"""Loading stack files: every problem becomes a Diagnostic at an exact FILE:LINE:COL.

The cases edit one small stack (BASE) and pin the exact position, address and
message; `_token` additionally shows what the position points at, so a wrong
number fails with a readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.spec import Diagnostic, SpecError, load_stack, load_text

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
name: t
pve_version: 8
nodes:
  - name: pve01
    nodeid: 1
    address: 10.0.0.11
    interfaces:
      - {name: eno1, type: nic, address: 10.0.0.11/24}
      - {name: eno2, type: nic}
      - {name: eno3, type: nic}
      - {name: bond0, type: bond, slaves: [eno2, eno3], mode: active-backup, address: 10.1.0.11/24}
  - name: pve02
    nodeid: 2
    address: 10.0.0.12
    interfaces:
      - {name: eno1, type: nic, address: 10.0.0.12/24}
      - {name: bond0, type: nic, address: 10.1.0.12/24}
corosync:
  links:
    - {number: 0, network: 10.1.0.0/24}
ceph:
  public_network: 10.0.0.0/24
  mons: [pve01]
  pools:
    - {name: vm-pool}
  filesystems:
    - {name: cephfs}
storage:
  - {name: ceph-vm, type: rbd, pool: vm-pool}
  - {name: fs, type: cephfs, fs_name: cephfs}
ha:
  groups:
    - {name: web, nodes: {pve01: 1, pve02: 1}}
  resources:
    - {sid: "vm:100", group: web}
"""

BOND0 = "      - {name: bond0, type: bond, slaves: [eno2, eno3], mode: active-backup, address: 10.1.0.11/24}\n"
LINK0 = "    - {number: 0, network: 10.1.0.0/24}\n"
API = "connection:\n  api:\n    url: https://10.0.0.11:8006\n    token: {TOKEN}\nha:\n"


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


@dataclass(frozen=True)
class Expect:
    line: int
    col: int
    address: str
    message: str
    token: str = ""  # what the text at line:col starts with
    hint: str | None = None


CASES: dict[str, tuple[str, list[Expect]]] = {
    "empty file": ("", [Expect(1, 1, "stack", "file is empty")]),
    "only a comment": ("# nothing yet\n", [Expect(1, 1, "stack", "file is empty", "# nothing")]),
    "top level is a list": ("- a\n- b\n", [Expect(1, 1, "stack", "expected a mapping at the top, found a list")]),
    "yaml syntax error": (
        edit("  mons: [pve01]\n", "  mons: [pve01\n"),
        [Expect(24, 8, "yaml", "expected ',' or ']', but got ':'", ":",
                "while parsing a flow sequence that starts at line 23, column 9")],
    ),
    "duplicate key": (
        edit("    nodeid: 2\n", "    nodeid: 2\n    nodeid: 3\n"),
        [Expect(14, 5, "yaml", 'duplicate key: found duplicate key "nodeid" with value "3"', "nodeid: 3",
                "each key may appear once in a mapping")],
    ),
    "wrong type": (
        edit("    nodeid: 2\n", "    nodeid: two\n"),
        [Expect(13, 5, 'nodes["pve02"].nodeid',
                "Input should be a valid integer, unable to parse string as an integer, got 'two'", "nodeid: two")],
    ),
    "wrong type in a flow mapping": (
        edit("{name: web, nodes: {pve01: 1, pve02: 1}}", "{name: web, nodes: {pve01: 1, pve02: 1}, restricted: maybe}"),
        [Expect(33, 48, 'ha.groups["web"].restricted',
                "Input should be a valid boolean, unable to interpret input, got 'maybe'", "restricted: maybe")],
    ),
    "unknown key with did-you-mean": (
        edit("    nodeid: 2\n", "    nodeid: 2\n    adress: 10.0.0.99\n"),
        [Expect(14, 5, 'nodes["pve02"].adress', "unknown key 'adress'", "adress:", "did you mean 'address'?")],
    ),
    "unknown key inside an interface": (
        edit("{name: eno3, type: nic}", "{name: eno3, type: nic, mtuu: 9000}"),
        [Expect(10, 33, 'nodes["pve01"].interfaces["eno3"].mtuu', "unknown key 'mtuu'", "mtuu: 9000",
                "did you mean 'mtu'?")],
    ),
    "unknown discriminator type": (
        edit("{name: eno3, type: nic}", "{name: eno3, type: nick}"),
        [Expect(10, 22, 'nodes["pve01"].interfaces["eno3"].type', "unknown type 'nick'", "type: nick",
                "did you mean 'nic'?")],
    ),
    "unknown storage type": (
        edit("{name: fs, type: cephfs,", "{name: fs, type: cephs,"),
        [Expect(30, 16, 'storage["fs"].type', "unknown type 'cephs'", "type: cephs")],
    ),
    "missing discriminator": (
        edit("{name: eno3, type: nic}", "{name: eno3}"),
        [Expect(10, 9, 'nodes["pve01"].interfaces["eno3"]', "missing key 'type'", "{name: eno3}")],
    ),
    "missing required key": (
        edit("    nodeid: 2\n", ""),
        [Expect(12, 5, 'nodes["pve02"].nodeid', "missing required key 'nodeid'", "name: pve02")],
    ),
    "dangling node reference": (
        edit("mons: [pve01]", "mons: [pve01, pve3]"),
        [Expect(23, 17, "ceph.mons[1]", "ceph.mons names unknown node 'pve3'", "pve3]", "did you mean 'pve02'?")],
    ),
    "dangling pool reference": (
        edit("pool: vm-pool}", "pool: vm-pol}"),
        [Expect(29, 32, 'storage["ceph-vm"].pool', "RBD storage ceph-vm names unknown pool 'vm-pol'", "pool: vm-pol",
                "declared pools: vm-pool")],
    ),
    "dangling group reference": (
        edit("group: web}", "group: webb}"),
        [Expect(35, 23, 'ha.resources["vm:100"].group', "vm:100 names unknown HA group 'webb'", "group: webb",
                "declared groups: web")],
    ),
    "dangling node in a storage": (
        edit("pool: vm-pool}", "pool: vm-pool, nodes: [pve01, pve09]}"),
        [Expect(29, 62, 'storage["ceph-vm"].nodes[1]', "storage ceph-vm names unknown node 'pve09'", "pve09]")],
    ),
    "dangling file system reference": (
        edit("fs_name: cephfs}", "fs_name: cephfs2}"),
        [Expect(30, 30, 'storage["fs"].fs_name', "CephFS storage fs names unknown file system 'cephfs2'",
                "fs_name: cephfs2", "declare it under ceph.filesystems")],
    ),
    "address outside its network": (
        edit(LINK0, "    - {number: 0, network: 10.1.0.0/24, addresses: {pve01: 10.2.0.1}}\n"),
        [Expect(20, 53, "corosync.links[0].addresses.pve01",
                "link 0 address 10.2.0.1 of pve01 is outside the link network 10.1.0.0/24", "pve01: 10.2.0.1")],
    ),
    "gateway outside the interface subnet": (
        edit("address: 10.0.0.11/24}", "address: 10.0.0.11/24, gateway: 10.9.0.1}"),
        [Expect(8, 9, 'nodes["pve01"].interfaces["eno1"]',
                "gateway 10.9.0.1 is not inside 10.0.0.0/24 (the interface's subnet)", "{name: eno1")],
    ),
    "NIC in two bonds": (
        edit(BOND0, BOND0 + "      - {name: bond1, type: bond, slaves: [eno3]}\n"),
        [Expect(12, 44, 'nodes["pve01"].interfaces["bond1"].slaves[0]', "eno3 is already a slave of bond0", "eno3]",
                "a NIC can belong to one bond only")],
    ),
    "duplicate link numbers": (
        edit(LINK0, LINK0 + "    - {number: 0, network: 10.0.0.0/24}\n"),
        [Expect(21, 8, "corosync.links[0].number", "duplicate link number 0", "number: 0, network: 10.0.0.0",
                "each link number must be unique")],
    ),
    "HA groups on PVE 9": (
        edit("pve_version: 8", "pve_version: 9"),
        [Expect(33, 7, 'ha.groups["web"]', "HA groups do not exist on PVE 9", "{name: web"),
         Expect(35, 23, 'ha.resources["vm:100"].group', "resource 'group' does not exist on PVE 9", "group: web")],
    ),
    "HA rules on PVE 8": (
        edit("  resources:\n",
             '  rules:\n    - {type: node-affinity, name: r1, resources: ["vm:100"], nodes: {pve01: 1}}\n'
             "  resources:\n"),
        [Expect(35, 7, 'ha.rules["r1"]', "HA rules need PVE 9", "{type: node-affinity",
                "on PVE 8 use ha.groups and the resource's 'group'")],
    ),
    "inline secret": (
        edit("ha:\n", API.replace("{TOKEN}", '"root@pam!prov=0d9e-s3cr3t"')),
        [Expect(34, 5, "connection.api.token", "an inline secret is not allowed (it would end up in git); use "
                "{env: VARIABLE} or {file: /path/to/secret}", 'token: "root@pam')],
    ),
    "secret typed into env": (
        edit("ha:\n", API.replace("{TOKEN}", '{env: "root@pam!prov=0d9e-s3cr3t"}')),
        [Expect(34, 13, "connection.api.token.env",
                "String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$' (value not shown)", "env:")],
    ),
}


def _token(text: str, line: int, col: int) -> str:
    return text.splitlines()[line - 1][col - 1:] if text.strip() else ""


@pytest.mark.parametrize("label", list(CASES))
def test_loader_error_positions(label: str) -> None:
    text, expected = CASES[label]
    with pytest.raises(SpecError) as exc:
        load_text(text, "f.yaml")
    got = exc.value.diagnostics
    assert [(d.line, d.col, d.address) for d in got] == [(e.line, e.col, e.address) for e in expected]
    for d, e in zip(got, expected, strict=True):
        assert d.file == "f.yaml"
        assert d.message.startswith(e.message), d.message
        assert _token(text, d.line, d.col).startswith(e.token), _token(text, d.line, d.col)
        if e.hint is not None:
            assert d.hint == e.hint


@pytest.mark.parametrize("label", ["inline secret", "secret typed into env"])
def test_secret_values_never_appear_in_errors(label: str) -> None:
    text, _ = CASES[label]
    with pytest.raises(SpecError) as exc:
        load_text(text, "f.yaml")
    assert "s3cr3t" not in str(exc.value)
    assert "s3cr3t" in text  # the case really contains one


def test_diagnostic_prints_as_file_line_col_address_message_hint() -> None:
    d = Diagnostic("stacks/x.yaml", 3, 7, 'nodes["a"].nodeid', "bad", "fix it")
    assert str(d) == 'stacks/x.yaml:3:7: nodes["a"].nodeid: bad (fix it)'
    assert str(Diagnostic("x.yaml", 1, 1, "stack", "file is empty")) == "x.yaml:1:1: stack: file is empty"


def test_spec_error_lists_every_diagnostic() -> None:
    text = edit("mons: [pve01]", "mons: [pve01, pve3]").replace("group: web}", "group: webb}")
    with pytest.raises(SpecError) as exc:
        load_text(text, "f.yaml")
    assert str(exc.value).splitlines() == [str(d) for d in exc.value.diagnostics]
    assert len(exc.value.diagnostics) == 2


def test_base_stack_loads() -> None:
    stack = load_text(BASE, "f.yaml")
    assert stack.cluster.node_names == ["pve01", "pve02"]
    assert stack.position(("ceph", "pools", 0)) == (25, 7)
    assert stack.address(("nodes", 1, "interfaces", 1, "address")) == 'nodes["pve02"].interfaces["bond0"].address'


@pytest.mark.parametrize("name", ["lab.yaml", "pve9-example.yaml"])
def test_example_stacks_load(name: str) -> None:
    stack = load_stack(ROOT / "stacks" / name)
    assert stack.path == ROOT / "stacks" / name
    assert len(stack.cluster.nodes) >= 3


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        load_stack(tmp_path / "nope.yaml")
    assert str(exc.value) == f"{tmp_path / 'nope.yaml'}:1:1: stack: file not found"
    with pytest.raises(SpecError) as exc:
        load_stack(tmp_path)
    assert str(exc.value) == f"{tmp_path}:1:1: stack: not a regular file (a directory); a stack is a YAML file"
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"name: t\nx: \xff\xfe\x00name")
    with pytest.raises(SpecError) as exc:
        load_stack(binary)
    assert str(exc.value) == f"{binary}:2:4: stack: not UTF-8 text (byte 0xff)"
