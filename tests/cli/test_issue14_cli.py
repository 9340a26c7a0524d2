"""Issue 14 items 9 and 10 that need no lab: the real `provision` CLI in a subprocess
(stdout and stderr are pipes, as in CI)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stacks" / "lab.yaml"


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update({"PROVISION_HOME": str(tmp_path / "home"), "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "provision", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def help_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """`provision COMMAND --help`'s stdout, one CLI run per command for the module (the
    tests below read the same pages; a CLI start is what they cost)."""
    root = tmp_path_factory.mktemp("help")
    pages: dict[tuple[str, ...], str] = {}

    def page(*command: str) -> str:
        if command not in pages:
            proc = _cli(root, *command, "--help")
            assert proc.returncode == 0, (command, proc.stderr)
            pages[command] = proc.stdout
        return pages[command]

    return page


def test_simulate_tables_do_not_wrap_without_a_terminal(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "simulate", str(STACK), "--fail", "pve01")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "│ vm:102 " in line]
    assert len(rows) == 1
    assert "stays on pve03: highest priority online node in restricted group db (priority 2)" in rows[0]


def test_help_shows_readable_placeholders_not_python_types(help_of: Callable[..., str]) -> None:
    for command in (["plan"], ["apply"], ["validate"], ["simulate"], ["import"], ["lab", "up"], ["drift"]):
        text = help_of(*command)
        for label in ("<bool>", "<str>", "<path>", "<int>", "list[", "<float>"):
            assert label not in text, (command, label, text)
    plan = help_of("plan")
    assert "--target                     ADDRESS" in plan and "--out                -o      FILE" in plan
    assert "text|markdown|json" in plan


def test_format_is_f_and_o_is_an_output_file_in_every_command(help_of: Callable[..., str]) -> None:
    for command in ("plan", "show", "drift", "apply", "simulate", "validate"):
        text = help_of(command)
        assert re.search(r"--format +-f ", text), (command, text)
        assert "--output" not in text, command
    for command in ("plan", "import"):
        assert re.search(r"--out +-o +FILE", help_of(command)), command
    assert "--format json" in (REPO / "docs" / "apply.md").read_text()


def test_spec_errors_say_the_rule_in_words_and_suggest_the_value_meant(tmp_path: Path) -> None:
    text = STACK.read_text()
    assert text.count("mode: active-backup") == 3 and "\nname: lab\n" in text
    stack = tmp_path / "bad.yaml"
    stack.write_text(text.replace("\nname: lab\n", "\nname: production-cluster-01\n")
                     .replace("mode: active-backup", "mode: lacp", 1)
                     .replace("type: nfs", "type: ceph", 1))
    proc = _cli(tmp_path, "validate", str(stack))
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert ("name: 'production-cluster-01' is not a valid cluster name: at most 15 characters (corosync's limit)"
            in out)
    assert "^[A-Za-z0-9]" not in out  # no regex
    assert "mode: 'lacp' is not one of: balance-rr, active-backup" in out and "(did you mean '802.3ad'?)" in out
    assert "unknown type 'ceph' (did you mean 'rbd'?)" in out
