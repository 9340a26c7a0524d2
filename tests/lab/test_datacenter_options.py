"""datacenter.cfg values through `PUT /cluster/options` are checked as PVE checks them
(pve-common `JSONSchema.pm` over pve-cluster `DataCenterConfig.pm`'s formats) and answered
with PVE's 400 shape; GET returns what PVE's reader returns (issue 15)."""

from __future__ import annotations

import pytest
from labkit import LabHandle

ENUM = "value '{}' does not have a value in the enumeration '{}'"
FMT = "invalid format - format error\n"

REFUSED = [
    # (option, value, the error PVE puts under the option's name)
    ("crs", "ha=dynamic", FMT + "crs.ha: " + ENUM.format("dynamic", "basic, static")),
    ("crs", "ha-auto-rebalance=1", "invalid format - invalid key in comma-separated list property: ha-auto-rebalance"),
    ("crs", "ha-rebalance-on-start=maybe",
     FMT + "crs.ha-rebalance-on-start: type check ('boolean') failed - got 'maybe'"),
    ("ha", "shutdown_policy=reboot", FMT + "ha.shutdown_policy: "
     + ENUM.format("reboot", "freeze, failover, conditional, migrate")),
    ("migration", "fast", FMT + "migration.type: " + ENUM.format("fast", "secure, insecure")),
    ("migration", "secure,network=10.40.40.0",
     FMT + "migration.network: invalid format - value does not look like a valid CIDR network"),
    ("bwlimit", "migration=-1", FMT + "bwlimit.migration: value must have a minimum value of 0"),
    ("bwlimit", "restore=fast", FMT + "bwlimit.restore: type check ('number') failed - got 'fast'"),
    ("bwlimit", "backup=100", "invalid format - invalid key in comma-separated list property: backup"),
    ("email_from", "root at example", "invalid format - value does not look like a valid email address"),
    ("max_workers", "0", "value must have a minimum value of 1"),
    ("max_workers", "many", "type check ('integer') failed - got 'many'"),
    ("next-id", "lower=abc", FMT + "next-id.lower: type check ('integer') failed - got 'abc'"),
    ("max-workers", "4", "property is not defined in schema and the schema does not allow additional properties"),
]


@pytest.mark.parametrize(("option", "value", "error"), REFUSED, ids=[f"{o}={v}" for o, v, _ in REFUSED])
def test_invalid_values_are_refused_like_pve(lab8: LabHandle, option: str, value: str, error: str) -> None:
    r = lab8.request("PUT", "/cluster/options", **{option: value})
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == {option: error}
    assert option not in lab8.get("/cluster/options")


def test_pve9_lab_refuses_what_its_pve_cluster_lacks(lab9: LabHandle) -> None:
    # lab 9 carries pve-cluster 9.0.7: dynamic and auto-rebalance came with 9.1.2
    r = lab9.request("PUT", "/cluster/options", crs="ha=dynamic")
    assert r.status_code == 400 and "crs.ha" in r.json()["errors"]["crs"]
    p = lab9.node("pve01", "pvesh", "set", "/cluster/options", "--max_workers", "0", check=False)
    assert p.returncode != 0
    assert p.stderr.startswith("400 Parameter verification failed.\n")
    assert "max_workers: value must have a minimum value of 1" in p.stderr


def test_valid_values_are_stored_and_read_back_as_pve_reads_them(lab8: LabHandle) -> None:
    lab8.ok("PUT", "/cluster/options", crs="ha=static,ha-rebalance-on-start=yes", ha="shutdown_policy=migrate",
            migration="insecure,network=10.40.40.0/24", bwlimit="restore=51200,migration=102400",
            email_from="pve@example.com", max_workers="4", **{"next-id": "lower=1000,upper=2000"})
    opts = lab8.get("/cluster/options")
    assert opts["crs"] == {"ha": "static", "ha-rebalance-on-start": 1}  # parse_boolean: a JSON number
    assert opts["ha"] == {"shutdown_policy": "migrate"}
    assert opts["migration"] == {"type": "insecure", "network": "10.40.40.0/24"}
    assert opts["bwlimit"] == "migration=102400,restore=51200"  # the reader leaves bwlimit as text
    assert opts["next-id"] == {"lower": "1000", "upper": "2000"}
    assert (opts["email_from"], opts["max_workers"]) == ("pve@example.com", "4")
    lab8.ok("PUT", "/cluster/options", email_from="")  # email-opt: empty passes
    # write_datacenter_config refuses a range whose lower bound is above its upper one (a 500)
    r = lab8.request("PUT", "/cluster/options", **{"next-id": "lower=3000,upper=2000"})
    assert r.status_code == 500 and "lower (3000) <= upper (2000) boundary rule broken" in r.text
    assert lab8.get("/cluster/options")["next-id"] == {"lower": "1000", "upper": "2000"}
    lab8.ok("PUT", "/cluster/options", delete="crs,ha,migration,bwlimit,email_from,max_workers,next-id")
