"""The README and docs say what the code does (issue 14 item 10): numbers and options
that a person could type by hand are checked against the real CLI here.

- Any "N rules" in README.md or docs/*.md is the count `provision rules` prints.
- Every option the README's command table names for a command is in that command's
  `--help` (a renamed option fails here, not in a reader's shell).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> str:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "provision", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_rule_count_in_the_docs_is_the_catalogue_size() -> None:
    found = re.search(r"^(\d+) rules; ", _cli("rules"), re.M)
    assert found, "provision rules no longer prints its count"
    count = int(found.group(1))
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for match in re.finditer(r"\b(\d+) (?:best-practice )?(?:rules|checks)\b", doc.read_text()):
            assert int(match.group(1)) == count, f"{doc.name}: {match.group(0)!r}, but `provision rules` has {count}"


def test_options_in_the_readme_command_table_exist() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("| `provision ")]
    assert len(rows) >= 8
    for row in rows:
        command = re.match(r"\| `provision ([a-z-]+)", row)
        assert command
        name = command.group(1)
        if name == "lab":
            continue  # a group; its subcommands are listed, not options
        options = set(re.findall(r"(--[a-z][a-z-]+)", row))
        help_text = _cli(name, "--help")
        for option in sorted(options):
            assert option in help_text, f"README names {option} for `provision {name}`, its --help does not"


def test_the_real_hardware_guide_covers_every_endpoint_the_product_calls() -> None:
    """docs/real-hardware.md derives the token's privileges from the API calls discovery
    and the apply lock make: a new endpoint must show up there with its permission."""
    from provision.apply.lock import POOL_ID
    from provision.discover.discover import CEPH_ENDPOINTS, CLUSTER_ENDPOINTS, NODE_ENDPOINTS

    guide = (REPO / "docs" / "real-hardware.md").read_text()
    paths = [p for p, _params, _optional in CLUSTER_ENDPOINTS.values()]
    paths += [p for p, _params in NODE_ENDPOINTS.values()] + list(CEPH_ENDPOINTS.values())
    for path in paths:
        shown = path.replace("{node}", "<n>")
        last = "/" + shown.rsplit("/", 1)[1]
        assert shown in guide or f"`{last}`" in guide or f", {last}" in guide, f"{path} is not in the guide"
    assert f"Pool.Allocate` on `/pool/{POOL_ID}`" in guide and f"/pool/{POOL_ID} --tokens" in guide
