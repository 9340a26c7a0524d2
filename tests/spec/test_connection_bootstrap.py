"""`connection.api.bootstrap` (issue 11 item 5): per node that is not a member yet, its own
API and a token made on it. The stack check refuses entries for unknown nodes and a token
reference shared with another node (PVE makes each token's secret on its node), and no
storage may be handed a bootstrap token."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.spec import SpecError, load_stack

STACK = """\
name: t
pve_version: 8
connection:
  api:
    url: https://10.0.0.11:8006
    token: {{env: TOKEN_PVE01}}
    fingerprint: {fp}
    bootstrap:
{bootstrap}
nodes:
  - {{name: pve01, nodeid: 1, address: 10.0.0.11, interfaces: [{{name: eno1, type: nic, address: 10.0.0.11/24}}]}}
  - {{name: pve02, nodeid: 2, address: 10.0.0.12, interfaces: [{{name: eno1, type: nic, address: 10.0.0.12/24}}]}}
corosync:
  links:
    - {{number: 0, network: 10.0.0.0/24}}
{storage}"""
FP = ":".join(["AB"] * 32)
PBS = """storage:
  - {name: pbs, type: pbs, server: 10.0.0.6, datastore: main, username: backup@pbs, password: {env: TOKEN_PVE02}}
"""


def _load(tmp_path: Path, bootstrap: str, storage: str = "") -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(STACK.format(fp=FP, bootstrap=bootstrap, storage=storage), encoding="utf-8")
    try:
        load_stack(path)
    except SpecError as exc:
        return [str(d) for d in exc.diagnostics]
    return []


def test_bootstrap_entries_load_typed(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(STACK.format(fp=FP, storage="", bootstrap=(
        "      pve02: {url: 'https://10.0.0.12:8006', token: {env: TOKEN_PVE02}, fingerprint: " + FP + "}")))
    api = load_stack(path).cluster.connection.api  # type: ignore[union-attr]
    assert api is not None and list(api.bootstrap) == ["pve02"]
    entry = api.bootstrap["pve02"]
    assert str(entry.url) == "https://10.0.0.12:8006/" and entry.token.env == "TOKEN_PVE02"
    assert "TOKEN_PVE02" in repr(entry.token)


@pytest.mark.parametrize(("bootstrap", "line", "message"), [
    ("      pve9: {url: 'https://10.0.0.13:8006', token: {env: T9}}", 9,
     "connection.api.bootstrap.pve9: connection.api.bootstrap names unknown node 'pve9'"),
    ("      pve02: {url: 'https://10.0.0.12:8006', token: {env: TOKEN_PVE01}}", 9,
     "connection.api.bootstrap.pve02.token: the bootstrap token of pve02 is also the cluster's "
     "`connection.api.token` (env:TOKEN_PVE01)"),
    ("      pve02-x: {url: 'https://10.0.0.12:8006', token: {env: T2}}\n"
     "      bad_name: {url: 'https://10.0.0.12:8006', token: {env: T3}}", 8,
     "'bad_name' is not a valid node name"),
])
def test_bad_bootstrap_entries_are_one_line_with_file_line(tmp_path: Path, bootstrap: str, line: int,
                                                          message: str) -> None:
    errors = _load(tmp_path, bootstrap)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{tmp_path / 's.yaml'}:{line}:") and message in errors[0]


def test_a_storage_cannot_be_given_a_bootstrap_token(tmp_path: Path) -> None:
    errors = _load(tmp_path, "      pve02: {url: 'https://10.0.0.12:8006', token: {env: TOKEN_PVE02}}", PBS)
    assert len(errors) == 1 and "pbs password is the bootstrap API token of pve02 (env:TOKEN_PVE02)" in errors[0]
