"""`provision plan` on blank nodes, each with a token of its own (issue 11 item 5).

A standalone node's API answers only for itself and knows only the tokens made on it
(docs/lab-contract.md, "API tokens and standalone nodes"), so discovery must read each
node that is not a member yet through its own API with its own token: from a lab's
connection.json, or from `connection.api.bootstrap` in the stack. Everything through the
real CLI and real HTTPS to the lab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent / "provision"
OWN_API = "Read through their own API with a bootstrap token (not cluster members yet): pve02, pve03"


class Blank:
    """A blank 3-node lab and stacks that reach it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "PROVISION_HOME": str(home), "NO_COLOR": "1"}
        self.conn: dict[str, Any] = {}

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN), *args], env={**self.env, **(env or {})}, cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    def token(self, node: str) -> str:
        return Path(self.conn["bootstrap"][node]["token_file"]).read_text().strip()

    def api_stack(self, where: Path, bootstrap: dict[str, tuple[str, str]], cluster_node: str = "pve01") -> Path:
        """stacks/lab.yaml with an `api:` connection to `cluster_node`'s own address (token
        in $LAB_PVE01_TOKEN) and `bootstrap` entries node -> (URL of node, token text)."""
        where.mkdir(parents=True, exist_ok=True)
        fp = self.conn["fingerprint"]
        url = self.conn["node_api_urls"][cluster_node].removesuffix("/api2/json")
        lines = ["connection:", "  api:", f"    url: {url}",
                 "    token: {env: LAB_PVE01_TOKEN}", f"    fingerprint: {fp}", "    bootstrap:"]
        for node, (url_of, token) in bootstrap.items():
            (where / f"{node}.token").write_text(token + "\n")
            (where / f"{node}.token").chmod(0o600)
            lines += [f"      {node}:", f"        url: {self.conn['node_api_urls'][url_of].removesuffix('/api2/json')}",
                      f"        token: {{file: {node}.token}}", f"        fingerprint: {fp}"]
        text = (ROOT / "stacks" / "lab.yaml").read_text().replace("connection:\n  lab: default\n",
                                                                  "\n".join(lines) + "\n")
        assert "LAB_PVE01_TOKEN" in text
        stack = where / "lab.yaml"
        stack.write_text(text)
        return stack

    def plan(self, stack: Path | str, *extra: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("plan", str(stack), "--detailed-exitcode", *extra,
                        env={"LAB_PVE01_TOKEN": token or self.token("pve01")})


@pytest.fixture(scope="module")
def blank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Blank]:
    lab = Blank(tmp_path_factory.mktemp("home"))
    up = lab.run("lab", "up", "--blank")
    assert up.returncode == 0, up.stderr
    lab.conn = json.loads((lab.home / "labs" / "default" / "connection.json").read_text())
    try:
        yield lab
    finally:
        lab.run("lab", "down")
        shutil.rmtree(lab.home, ignore_errors=True)


def _no_secret(lab: Blank, *texts: str) -> None:
    for node in ("pve01", "pve02", "pve03"):
        secret = lab.token(node).rsplit("=", 1)[1]
        assert all(secret not in t for t in texts), node


def test_a_lab_connection_reads_each_blank_node_through_its_own_api(blank: Blank) -> None:
    text = blank.plan("stacks/lab.yaml")
    assert text.returncode == 2, text.stderr
    assert text.stdout.splitlines()[:2] == [
        "Cluster lab (not created yet): PVE 8, 3 node(s); stack stacks/lab.yaml", OWN_API]
    doc = json.loads(blank.plan("stacks/lab.yaml", "--format", "json").stdout)
    assert doc["cluster"]["bootstrap"] == ["pve02", "pve03"]
    assert len(doc["actions"]) == 48
    changed = {c["address"] for c in doc["changes"]}
    assert {'network["pve02"].bond["bond0"]', 'network["pve03"].vlan["bond1.20"]'} <= changed
    assert not any("not compared" in n for n in doc["notes"]), doc["notes"]
    md = blank.plan("stacks/lab.yaml", "--format", "markdown").stdout
    assert OWN_API in md
    _no_secret(blank, text.stdout, text.stderr, md)


def test_an_api_connection_uses_each_nodes_bootstrap_entry(blank: Blank, tmp_path: Path) -> None:
    stack = blank.api_stack(tmp_path / "ok", {n: (n, blank.token(n)) for n in ("pve02", "pve03")})
    proc = blank.plan(stack, "--format", "json")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["cluster"]["bootstrap"] == ["pve02", "pve03"] and len(doc["actions"]) == 48
    _no_secret(blank, proc.stdout, proc.stderr)


def test_a_missing_bootstrap_entry_names_the_node_and_the_key(blank: Blank, tmp_path: Path) -> None:
    stack = blank.api_stack(tmp_path / "missing", {"pve02": ("pve02", blank.token("pve02"))})
    proc = blank.plan(stack)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pve03 is not a cluster member yet" in lines[0] and "connection.api.bootstrap.pve03" in lines[0]


def test_another_nodes_token_is_refused_by_the_node(blank: Blank, tmp_path: Path) -> None:
    """A token exists only where it was made: pve02's token at pve03's API is a 401."""
    stack = blank.api_stack(tmp_path / "wrong", {"pve02": ("pve02", blank.token("pve02")),
                                                  "pve03": ("pve03", blank.token("pve02"))})
    proc = blank.plan(stack)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pve03's own API" in lines[0] and "401" in lines[0]
    _no_secret(blank, proc.stdout, proc.stderr)


def test_a_bootstrap_url_of_another_node_is_refused(blank: Blank, tmp_path: Path) -> None:
    stack = blank.api_stack(tmp_path / "url", {"pve02": ("pve02", blank.token("pve02")),
                                                "pve03": ("pve02", blank.token("pve02"))})
    proc = blank.plan(stack)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "answers as node 'pve02', not as pve03" in lines[0], proc.stderr


def test_the_connection_must_reach_the_node_the_cluster_is_created_on(blank: Blank, tmp_path: Path) -> None:
    """pve02's token would be gone once pve02 joins the cluster created on pve01."""
    stack = blank.api_stack(tmp_path / "founder", {"pve01": ("pve01", blank.token("pve01")),
                                                    "pve03": ("pve03", blank.token("pve03"))}, cluster_node="pve02")
    proc = blank.plan(stack, token=blank.token("pve02"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "the cluster will be created on pve01 (the stack's first node), but the connection reaches pve02" in lines[0]
