"""Before a cluster exists, each node's API knows only itself (docs/lab-contract.md, "API
tokens and standalone nodes"): a token works only on the node whose /etc/pve has it, a
standalone node cannot answer for another node, and `pvecm create`/join move tokens the
way pmxcfs moves the database."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from labkit import LabHandle, start_lab, stop_lab

LOOKUP = "hostname lookup '{0}' failed - failed to get address info for: {0}: Name or service not known"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """One blank lab for the module: the tests before the create/join test only read it,
    and that test, which forms the cluster, is the last to use it."""
    handle = start_lab(tmp_path_factory.mktemp("home"), "tok", "--nodes", "3", "--pve", "8")
    try:
        yield handle
    finally:
        stop_lab(handle)


def _get(lab: LabHandle, node: str, path: str, token: str) -> requests.Response:
    """GET at ``node``'s own address with exactly this token (no fallback)."""
    return requests.get(lab.conn["node_api_urls"][node] + path, headers={"Authorization": f"PVEAPIToken={token}"},
                        verify=lab.conn["ca_file"], timeout=30)


def _data(r: requests.Response) -> Any:
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    return r.json()["data"]


def test_blank_nodes_each_have_their_own_bootstrap_token(lab: LabHandle) -> None:
    boot = lab.conn["bootstrap"]
    assert sorted(boot) == ["pve01", "pve02", "pve03"]
    assert boot["pve01"]["token_file"] == lab.conn["token_file"]  # made on pve01, where the cluster starts
    assert {b["api_url"] for b in boot.values()} == {lab.conn["node_api_urls"][n] for n in boot}
    for node, entry in boot.items():
        path = Path(entry["token_file"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().strip().rsplit("=", 1)[0] == "root@pam!provision", node
    assert len({Path(b["token_file"]).read_text() for b in boot.values()}) == 3  # three different secrets


def test_a_token_works_only_on_the_node_it_was_made_on(lab: LabHandle) -> None:
    pve02 = lab.node_tokens["pve02"]
    assert _data(_get(lab, "pve02", "/version", pve02))["version"]
    wrong = [_get(lab, "pve02", "/version", lab.token), _get(lab, "pve01", "/version", pve02),
             _get(lab, "pve03", "/version", pve02), _get(lab, "pve02", "/version", lab.ro_token)]
    for r in wrong:
        assert r.status_code == 401 and r.content == b""
    # the lab's own address answers as pve01: pve01's tokens only
    assert lab.session.get(lab.url + "/version", verify=lab.conn["ca_file"]).status_code == 200
    r = requests.get(lab.url + "/version", headers={"Authorization": f"PVEAPIToken={pve02}"},
                     verify=lab.conn["ca_file"], timeout=30)
    assert r.status_code == 401


def test_a_standalone_node_answers_only_for_itself(lab: LabHandle) -> None:
    pve02 = lab.node_tokens["pve02"]
    assert [n["node"] for n in _data(_get(lab, "pve02", "/nodes", pve02))] == ["pve02"]
    status = _data(_get(lab, "pve02", "/cluster/status", pve02))
    assert [(s["name"], s["local"]) for s in status] == [("pve02", 1)]
    assert _data(_get(lab, "pve02", "/nodes/pve02/network", pve02))
    for path in ("/nodes/pve01/network", "/nodes/pve03/disks/list", "/nodes/pve01/apt/versions"):
        r = _get(lab, "pve02", path, pve02)
        assert r.status_code == 500, path
        assert r.json()["message"].strip() == LOOKUP.format(path.split("/")[2])
    r = lab.session.get(lab.url + "/nodes/pve02/network", verify=lab.conn["ca_file"])  # the lab's address: pve01
    assert r.status_code == 500 and r.json()["message"].strip() == LOOKUP.format("pve02")


def test_create_keeps_the_first_nodes_tokens_and_a_join_replaces_the_joiners(lab: LabHandle) -> None:
    pve02, pve03 = lab.node_tokens["pve02"], lab.node_tokens["pve03"]
    admin = lab.token
    upid = _data(requests.post(lab.conn["node_api_urls"]["pve01"] + "/cluster/config",
                               headers={"Authorization": f"PVEAPIToken={admin}"}, verify=lab.conn["ca_file"],
                               data={"clustername": "c1"}, timeout=30))
    assert upid.startswith("UPID:pve01:")
    assert _get(lab, "pve01", "/version", admin).status_code == 200  # pve01's /etc/pve is the cluster's now
    assert _get(lab, "pve02", "/version", admin).status_code == 401  # pve02 is still on its own
    r = requests.post(lab.conn["node_api_urls"]["pve02"] + "/cluster/config/join",
                      headers={"Authorization": f"PVEAPIToken={pve02}"}, verify=lab.conn["ca_file"], timeout=30,
                      data={"hostname": "192.168.10.11", "fingerprint": lab.conn["fingerprint"],
                            "password": "secret", "link0": "192.168.10.12"})
    assert r.status_code == 200, r.text
    # pve02 now reads the cluster's /etc/pve: its own token is gone, the cluster's works
    assert _get(lab, "pve02", "/version", pve02).status_code == 401
    assert sorted(n["node"] for n in _data(_get(lab, "pve02", "/nodes", admin))) == ["pve01", "pve02"]
    assert _data(_get(lab, "pve01", "/nodes/pve02/network", admin))
    # a member cannot reach a node outside its nodelist; the standalone pve03 still only itself
    r = _get(lab, "pve01", "/nodes/pve03/network", admin)
    assert r.status_code == 500 and r.json()["message"].strip() == LOOKUP.format("pve03")
    assert _get(lab, "pve03", "/version", pve03).status_code == 200
    assert _get(lab, "pve03", "/version", admin).status_code == 401


def test_a_built_cluster_has_one_token_for_every_node(tmp_path: Path) -> None:
    stack = Path(__file__).resolve().parents[2] / "stacks" / "lab.yaml"
    lab = start_lab(tmp_path, "built", "--from", str(stack))
    try:
        assert lab.conn["bootstrap"] == {}
        for node in lab.conn["nodes"]:
            assert _get(lab, node, "/version", lab.token).status_code == 200
            assert _get(lab, node, "/version", lab.ro_token).status_code == 200
        assert _data(_get(lab, "pve03", "/nodes/pve01/network", lab.token))
    finally:
        stop_lab(lab)
