"""Smaller PVE behaviours the product relies on: `pvecm create --token-coefficient` only
from pve-cluster 9.1; datacenter.cfg (`crs`) through /cluster/options; `skipsmart` on
/nodes/{n}/disks/list."""

from __future__ import annotations

from labkit import LabHandle


def test_token_coefficient_is_unknown_before_pve_cluster_9_1(lab8: LabHandle, lab9: LabHandle) -> None:
    # lab 8 = pve-manager 8.4.1 + pve-cluster 8.1.0; lab 9 = 9.1.1 + pve-cluster 9.0.7
    for lab in (lab8, lab9):
        p = lab.node("pve01", "pvecm", "create", "c1", "--token-coefficient", "125", check=False)
        assert p.returncode == 255
        assert p.stderr.startswith("400 Parameter verification failed.\n")
        assert "token-coefficient: property is not defined in schema" in p.stderr
        r = lab.request("POST", "/cluster/config", as_node="pve01", clustername="c1", **{"token-coefficient": "125"})
        assert r.status_code == 400 and "token-coefficient" in r.json()["errors"]
        assert lab.request("GET", "/cluster/config/totem").json()["data"] is None  # nothing was created


def test_crs_through_cluster_options(lab8: LabHandle) -> None:
    assert "crs" not in lab8.get("/cluster/options")
    lab8.ok("PUT", "/cluster/options", crs="ha=static,ha-rebalance-on-start=1")
    opts = lab8.get("/cluster/options")
    assert opts["crs"] == {"ha": "static", "ha-rebalance-on-start": 1}  # a JSON number, as PVE answers
    assert type(opts["crs"]["ha-rebalance-on-start"]) is int
    assert "crs: ha=static,ha-rebalance-on-start=1" in (lab8.root / "nodes/pve02/root/etc/pve/datacenter.cfg"
                                                        ).read_text()
    lab8.ok("PUT", "/cluster/options", keyboard="de")
    lab8.ok("PUT", "/cluster/options", crs="ha=basic")  # a property string is replaced whole (Cluster.pm:853)
    opts = lab8.get("/cluster/options")
    assert opts["crs"] == {"ha": "basic"} and opts["keyboard"] == "de"
    bad = lab8.request("PUT", "/cluster/options", crs="ha=dynamic")  # pve-cluster 9.1 only
    assert bad.status_code == 400 and "crs" in bad.json()["errors"]
    lab8.ok("PUT", "/cluster/options", delete="crs")
    assert "crs" not in lab8.get("/cluster/options")
    ro = lab8.session.put(lab8.url + "/cluster/options", data={"crs": "ha=basic"}, verify=lab8.conn["ca_file"],
                          headers={"Authorization": f"PVEAPIToken={lab8.ro_token}"}, timeout=30)
    assert ro.status_code == 403


def test_disk_list_skipsmart(lab8: LabHandle) -> None:
    smart = {d["devpath"]: d for d in lab8.get("/nodes/pve01/disks/list")}
    assert smart["/dev/sdb"]["health"] == "PASSED"
    quick = {d["devpath"]: d for d in lab8.get("/nodes/pve01/disks/list", skipsmart=1)}
    assert quick["/dev/sdb"]["health"] == "UNKNOWN" and quick["/dev/sdb"]["wearout"] == "N/A"
    assert set(quick) == set(smart)
