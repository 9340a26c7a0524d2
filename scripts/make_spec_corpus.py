#!/usr/bin/env python3
"""Write the broken-spec corpus: tests/spec/corpus/NNN-name.yaml + expected.json.

Each case is one deliberate defect in `tests/spec/corpus_base.yaml` (a valid stack),
with the line it is on and a substring of the message a user must see there. The
expectations come from the defect, never from running the loader, so the corpus
test (tests/spec/test_corpus.py) checks the loader against them. Run this after
changing the families below and commit the result:

    .venv/bin/python scripts/make_spec_corpus.py
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_FILE = ROOT / "tests" / "spec" / "corpus_base.yaml"
OUT = ROOT / "tests" / "spec" / "corpus"


@dataclass(frozen=True)
class Case:
    name: str
    text: bytes
    line: int
    message: str


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]


class Base:
    def __init__(self) -> None:
        self.lines = BASE_FILE.read_text(encoding="utf-8").splitlines()

    def find(self, exact: str, nth: int = 0) -> int:
        """0-based index of the nth line equal to `exact`."""
        hits = [i for i, line in enumerate(self.lines) if line == exact]
        return hits[nth]

    def replaced(self, index: int, *new: str) -> str:
        return "\n".join([*self.lines[:index], *new, *self.lines[index + 1:]]) + "\n"

    def inserted(self, index: int, *new: str) -> str:
        return "\n".join([*self.lines[:index], *new, *self.lines[index:]]) + "\n"


# (line in the base, field label) for every integer field
INT_FIELDS = [
    ("    nodeid: 1", "nodeid"), ("    votes: 1", "votes"), ("      port: 22", "ssh-port"),
    ("      memory_mib: 65536", "capacity-memory"), ("      cores: 16", "capacity-cores"),
    ("        miimon: 100", "miimon"), ("        mtu: 9000", "bond-mtu"), ("        forward_delay: 0", "bridge-fd"),
    ("      priority: 20", "link-priority"), ("  token: 3000", "totem-token"),
    ("  token_coefficient: 650", "token-coefficient"), ("      db_size_gib: 60", "osd-db-size"),
    ("      size: 3", "pool-size"), ("      min_size: 2", "pool-min-size"), ("      pg_num: 128", "pool-pg-num"),
    ("      pg_num: 64", "cephfs-pg-num"), ("      max_restart: 1", "max-restart"),
    ("      max_relocate: 1", "max-relocate"), ("    memory_mib: 4096", "guest-memory"),
    ("    cores: 2", "guest-cores"),
    ("    - number: 0", "link-number"),
]
BAD_INTS = [
    ("true", "expected a number, got true"),
    ("abc", "unable to parse string as an integer"),
    ("1.5", "got a number with a fractional part"),
    ("!!int notanumber", "'notanumber' is not a valid !!int"),
    ("9" * 40, "number with more than 32 digits"),
    ("9" * 5000, "number with more than 32 digits"),
    ("18446744073709551616", "Input should be less than or equal to"),
    ("1000000000000000000000000000000", "Input should be less than or equal to"),
    ("-5", "Input should be greater than or equal to"),
    ("[1, 2]", "Input should be a valid integer"),
    ("{a: 1}", "Input should be a valid integer"),
    (".inf", "Input should be a finite number"),
    ("!!binary AAAA", "YAML tag tag:yaml.org,2002:binary is not allowed"),
    ("!local 1", "YAML tag !local is not allowed"),
]
TEXT_FIELDS = [
    ("        comment: management bridge", "bridge-comment"), ("      comment: web servers", "group-comment"),
    ("      comment: frontend", "resource-comment"), ("    options: vers=4.2", "nfs-options"),
    ("    server: 10.0.0.5", "nfs-server"), ("    server: 10.0.0.6", "pbs-server"),
    ("    datastore: main", "pbs-datastore"), ("    pool: vm-pool", "rbd-pool"), ("    export: /srv/iso", "nfs-export"),
    ("      key_file: /root/.ssh/id_ed25519", "ssh-key-file"),
]
CONTROL = [("\\n", "newline"), ("\\r", "cr"), ("\\0", "nul"), ("\\e", "escape")]


def _field_cases(base: Base) -> list[tuple[str, str, int, str]]:
    out: list[tuple[str, str, int, str]] = []
    for line, label in INT_FIELDS:
        i = base.find(line)
        key = line.split(":")[0]
        for value, message in BAD_INTS:
            if label == "link-number" and value.startswith(("[", "{")):
                continue  # `- number: [1, 2]` starts a flow node that changes the entry's shape
            out.append((f"{label}-{_slug(value)[:20] or 'sym'}", base.replaced(i, f"{key}: {value}"), i + 1, message))
        if not line.lstrip().startswith("- "):  # repeating a list item's first line starts a new item
            out.append((f"{label}-duplicate-key", base.inserted(i + 1, line), i + 2, "duplicate key"))
    for line, label in TEXT_FIELDS:
        i = base.find(line)
        key, _, value = line.partition(": ")
        for escape, what in CONTROL:
            out.append((f"{label}-{what}", base.replaced(i, f'{key}: "{value}{escape}injected: 1"'), i + 1,
                        "must be one line of text without control characters"))
    return out


def _network_cases(base: Base) -> list[tuple[str, str, int, str]]:
    out: list[tuple[str, str, int, str]] = []
    vlan = base.find("      - name: bond0.20")
    for name, message in (
        ("bond0.0", "VLAN id 0 in the name 'bond0.0' is outside 1-4094"),
        ("bond0.4095", "VLAN id 4095 in the name 'bond0.4095' is outside 1-4094"),
        ("bond0.5000", "VLAN id 5000 in the name 'bond0.5000' is outside 1-4094"),
        ("bond0.020", "VLAN id '020' in the name has a leading zero; write bond0.20"),
        ("bond0.00020", "VLAN id '00020' in the name has a leading zero; write bond0.20"),
    ):
        out.append((f"vlan-name-{name}", base.replaced(vlan, f"      - name: {name}"), vlan + 1, message))
    for tag, message in (("0", "greater than or equal to 1"), ("4095", "less than or equal to 4094")):
        out.append((f"vlan-tag-{tag}", base.inserted(vlan + 2, f"        tag: {tag}"), vlan + 3, message))
    out.append(("vlan-name-tag-mismatch", base.inserted(vlan + 2, "        tag: 30"), vlan + 1,
                "name says tag 20 but tag is 30"))
    after_vlan = base.find("      - name: vmbr0")
    for name, message in (("vlan0", "VLAN id 0 in the name 'vlan0' is outside 1-4094"),
                          ("vlan5000", "VLAN id 5000 in the name 'vlan5000' is outside 1-4094"),
                          ("vlan21", "name says tag 21 but tag is 20")):
        out.append((f"vlan-named-{name}",
                    base.inserted(after_vlan, f"      - {{name: {name}, type: vlan, raw_device: bond0, tag: 20}}"),
                    after_vlan + 1, message))
    out.append(("vlan-second-vlan20-named", base.inserted(
        after_vlan, "      - {name: vlan20, type: vlan, raw_device: bond0, tag: 20}"), after_vlan + 1,
        "VLAN 20 on bond0 is declared twice (bond0.20 and vlan20)"))
    out.append(("vlan-second-vlan20-explicit", base.inserted(
        after_vlan, "      - {name: ceph20, type: vlan, raw_device: bond0, tag: 20}"), after_vlan + 1,
        "VLAN 20 on bond0 is declared twice (bond0.20 and ceph20)"))
    vids = base.find("        vids: 2-4094")
    for value, message in (("0-5000", "VLAN id 0 in '0-5000' is outside 2-4094"),
                           ("2-5000", "VLAN id 5000 in '2-5000' is outside 2-4094"),
                           ("1", "VLAN id 1 in '1' is outside 2-4094"),
                           ("30-20", "VLAN range '30-20' must go from lower to higher id"),
                           ("100-100", "VLAN range '100-100' must go from lower to higher id"),
                           ("10 20 99999999", "VLAN id 99999999 in '99999999' is outside 2-4094"),
                           ("10,20", "has the wrong form"), ("all", "has the wrong form")):
        out.append((f"bridge-vids-{_slug(value)}", base.replaced(vids, f'        vids: "{value}"'), vids + 1, message))
    ports = base.find("        ports: [eno3]")
    out.append(("bridge-port-is-bond-slave", base.replaced(ports, "        ports: [eno1]"), ports + 1,
                "eno1 is a slave of bond0"))
    # the same conflict with the bridge listed before the bond
    bond = base.find("      - name: bond0")
    bridge_end = base.find("        comment: management bridge")
    bridge = base.lines[after_vlan:bridge_end + 1]
    bridge = [ln.replace("ports: [eno3]", "ports: [eno2]") for ln in bridge]
    moved = [*base.lines[:bond], *bridge, *base.lines[bond:after_vlan], *base.lines[bridge_end + 1:]]
    port_line = bond + next(k for k, ln in enumerate(bridge) if "ports:" in ln) + 1
    out.append(("bridge-before-bond-port-is-slave", "\n".join(moved) + "\n", port_line, "eno2 is a slave of bond0"))
    votes = base.find("    votes: 1")
    zero = base.replaced(votes, "    votes: 0").replace("    nodeid: 2\n", "    nodeid: 2\n    votes: 0\n") \
        .replace("    nodeid: 3\n", "    nodeid: 3\n    votes: 0\n")
    out.append(("all-nodes-zero-votes", zero, votes + 1, "no node has a vote: the cluster can never be quorate"))
    nodeid2 = base.find("    nodeid: 2")
    out.append(("duplicate-nodeid", base.replaced(nodeid2, "    nodeid: 1"), nodeid2 + 1, "duplicate nodeid 1"))
    return out


def _secret_cases(base: Base) -> list[tuple[str, str, int, str]]:
    out: list[tuple[str, str, int, str]] = []
    pw = base.find("    password: {env: PBS_PASSWORD}")
    for name in ("PVE_TOKEN", "PROVISION_HOME", "PROVISION_SECRETS_DIR", "PVE_PROVISION_SECRET_A001_PASSWORD",
                 "PVE_LAB_NODE"):
        out.append((f"secret-env-{_slug(name)}", base.replaced(pw, f"    password: {{env: {name}}}"), pw + 1,
                    f"{name} is one of pve-provision's own variables"))
    for path in ("/etc/shadow", "/root/.ssh/id_rsa", "../../outside.pw", "/proc/self/environ", "/dev/zero"):
        out.append((f"secret-file-{_slug(path)}", base.replaced(pw, f"    password: {{file: {path}}}"), pw + 1,
                    "outside the allowed directory"))
    for value, message in (("hunter2", "an inline secret is not allowed"),
                           ("{env: PBS_PASSWORD, file: x.pw}", "needs exactly one of 'env' or 'file'"),
                           ("{}", "needs exactly one of 'env' or 'file'"),
                           ('{env: "A B"}', "value not shown"),
                           ('{file: "x\\ny.pw"}', "must be one line")):
        out.append((f"secret-{_slug(value) or 'empty'}", base.replaced(pw, f"    password: {value}"), pw + 1, message))
    return out


def _yaml_cases(base: Base) -> list[tuple[str, str, int, str]]:
    out: list[tuple[str, str, int, str]] = []
    n = len(base.lines)
    tail = "\n".join(base.lines) + "\n"
    depth = "x: " + "[" * 80 + "]" * 80
    out.append(("nesting-80-flow", tail + depth + "\n", n + 1, "nesting deeper than 64 levels"))
    out.append(("nesting-300-flow", tail + "x: " + "[" * 300 + "]" * 300 + "\n", n + 1,
                "nesting deeper than 64 levels"))
    block = "\n".join("  " * k + f"k{k}:" for k in range(70)) + " 1"
    # levels count every node, scalars included: the key `k63` is the 65th level
    out.append(("nesting-70-block", tail + block + "\n", n + 64, "nesting deeper than 64 levels"))
    bomb = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    bomb += [f"lol{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]" for k in range(1, 9)]
    out.append(("alias-bomb-billion-laughs", "\n".join(bomb) + "\n" + tail, 5, "more than 100,000 YAML nodes"))
    selfref = "alias *a refers to a node that contains it"
    out.append(("alias-self-merge", tail + "x: &a {b: 1, <<: *a}\n", n + 1, selfref))
    out.append(("alias-self-list", tail + "x: &a [1, [2, *a]]\n", n + 1, selfref))
    out.append(("alias-undefined", tail + "x: *nowhere\n", n + 1, "found undefined alias"))
    out.append(("merge-of-scalar", tail + "x: &s 1\ny: {<<: *s}\n", n + 1,
                "expected a mapping or list of mappings for merging"))
    for tag in ("!!python/object/apply:os.system ['id']", "!!python/name:os.system", "!!set {a, b}",
                "!!omap [a: 1]", "!!timestamp 2020-01-01", "!!float abc", "!!bool maybe", "!!null x",
                "!custom {a: 1}", "!<tag:evil.example,2000:x> 1"):
        invalid_value = tag.split()[0] in ("!!float", "!!bool", "!!null")
        out.append((f"tag-{_slug(tag)}", tail + f"x: {tag}\n", n + 1,
                    "is not a valid" if invalid_value else "is not allowed"))
    name = base.find("name: corpus")
    out.append(("name-as-timestamp", base.replaced(name, "name: 2020-01-01"), name + 1,
                "Input should be a valid string"))
    nodeid = base.find("    nodeid: 1")
    out.append(("tab-indentation", base.replaced(nodeid, "\tnodeid: 1"), nodeid + 1,
                "found character '\\t' that cannot start any token"))
    mons = base.find("  mons: [pve01, pve02, pve03]")
    out.append(("unclosed-flow", base.replaced(mons, "  mons: [pve01, pve02, pve03"), mons + 2,
                "expected ',' or ']'"))
    out.append(("second-document", tail + "---\nname: other\n", n + 1, "but found another document"))
    out.append(("top-level-list", "- a\n- b\n", 1, "expected a mapping at the top"))
    out.append(("empty", "", 1, "file is empty"))
    out.append(("only-comments", "# a\n# b\n", 1, "file is empty"))
    out.append(("unknown-top-key", tail + "extra: 1\n", n + 1, "unknown key 'extra'"))
    out.append(("quoted-number-key", tail + "\"1\": 2\n", n + 1, "unknown key '1'"))
    return out


def _byte_cases(base: Base) -> list[Case]:
    out: list[Case] = []
    text = "\n".join(base.lines) + "\n"
    i = base.find("      comment: frontend")
    for byte in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80"):
        lines = text.encode().split(b"\n")
        lines[i] = b"      comment: front" + byte + b"end"
        out.append(Case(f"not-utf8-{byte.hex()}", b"\n".join(lines), i + 1, "not UTF-8 text"))
    return out


def main() -> None:
    base = Base()
    families: list[Callable[[Base], list[tuple[str, str, int, str]]]] = [
        _field_cases, _network_cases, _secret_cases, _yaml_cases]
    cases = [Case(name, text.encode(), line, message) for fam in families for name, text, line, message in fam(base)]
    cases += _byte_cases(base)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    expected: dict[str, dict[str, object]] = {}
    for number, case in enumerate(cases, start=1):
        file_name = f"{number:03d}-{case.name}.yaml"
        (OUT / file_name).write_bytes(case.text)
        expected[file_name] = {"line": case.line, "message": case.message}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
