"""Removing a node (`pvecm delnode`) as pve-cluster does it. The API does not check that
the node is off (`ClusterConfig.pm` delnode): it drops the node from the others' nodelist
and sends `corosync-cfgtool -k`. The removed node keeps its own corosync.conf and pmxcfs
database, so powered on - still, or again later - it stands alone in the old cluster
without quorum and its /etc/pve is read-only: what pvecm.adoc "Remove a Cluster Node"
warns about. `POST /nodes/{node}/status command=shutdown` powers a node off."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest
from labkit import LabHandle, start_lab, stop_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    lab = start_lab(tmp_path_factory.mktemp("home"), "delnode", "--nodes", "4")
    try:
        lab.make_cluster()
        yield lab
    finally:
        stop_lab(lab)


def _status(lab: LabHandle, node: str) -> dict[str, dict[str, object]]:
    return {str(e["name"]) if e["type"] == "node" else "cluster": e
            for e in lab.ok("GET", "/cluster/status", as_node=node)}


def test_delnode_of_a_running_node_leaves_it_alone_in_the_old_cluster(lab: LabHandle) -> None:
    assert _status(lab, "pve01")["pve04"]["online"] == 1
    lab.node("pve01", "pvecm", "delnode", "pve04")  # PVE does not refuse a running node
    remaining = _status(lab, "pve01")
    assert sorted(k for k in remaining if k != "cluster") == ["pve01", "pve02", "pve03"]
    assert remaining["cluster"]["quorate"] == 1
    alone = _status(lab, "pve04")
    assert alone["cluster"]["name"] == "prod" and alone["cluster"]["quorate"] == 0
    assert sorted(alone) == ["cluster", "pve04"]
    refused = lab.request("PUT", "/cluster/options", as_node="pve04", keyboard="de")
    assert refused.status_code == 500 and "quorum" in refused.text
    with pytest.raises(OSError) as exc:
        (lab.root / "nodes" / "pve04" / "root" / "etc" / "pve" / "note.txt").write_text("x")
    assert exc.value.errno == errno.EACCES
    lab.lab("fail", "pve04")  # and it boots again into the same state
    lab.lab("recover", "pve04")
    assert _status(lab, "pve04")["cluster"]["quorate"] == 0


def test_shutdown_through_the_api_powers_a_node_off(lab: LabHandle) -> None:
    lab.ok("POST", "/nodes/pve03/status", as_node="pve01", command="shutdown")
    # PVE answers first and powers off in the background, once the HA agent is done
    lab.wait(lambda: _status(lab, "pve01")["pve03"]["online"] == 0, timeout=60, what="pve03 off")
    bad = lab.request("POST", "/nodes/pve02/status", as_node="pve01", command="halt")
    assert bad.status_code == 400 and "command" in bad.json()["errors"]
    lab.lab("recover", "pve03")
    assert _status(lab, "pve01")["pve03"]["online"] == 1
