"""Resource pools (/pools): what pve-provision's apply lock is built on.

Creating a pool must be atomic (a second create fails), need quorum and write access,
and be visible through the API and pvesh from any node."""

from __future__ import annotations

import json

import requests
from labkit import LabHandle


def test_pool_lifecycle_and_atomic_create(lab8: LabHandle) -> None:
    lab8.ok("POST", "/pools", poolid="pve-provision-lock", comment="id=abc holder=ci@runner")
    assert {"poolid": "pve-provision-lock", "comment": "id=abc holder=ci@runner"} in lab8.get("/pools")
    again = lab8.request("POST", "/pools", poolid="pve-provision-lock", comment="someone else")
    assert again.status_code == 500 and again.json()["message"].strip() == "pool 'pve-provision-lock' already exists"
    # The first holder's comment survives the failed second create.
    assert lab8.get("/pools/pve-provision-lock") == {"comment": "id=abc holder=ci@runner", "members": []}
    shown = lab8.node("pve02", "pvesh", "get", "/pools", "--output-format", "json")
    assert json.loads(shown.stdout) == [{"comment": "id=abc holder=ci@runner", "poolid": "pve-provision-lock"}]
    lab8.ok("DELETE", "/pools/pve-provision-lock")
    assert lab8.get("/pools") == []
    gone = lab8.request("DELETE", "/pools/pve-provision-lock")
    assert gone.status_code == 500 and "does not exist" in gone.json()["message"]


def test_pool_create_needs_write_access_and_a_valid_id(lab8: LabHandle) -> None:
    ro = requests.post(f"{lab8.url}/pools", data={"poolid": "x"}, timeout=30, verify=lab8.conn["ca_file"],
                       headers={"Authorization": f"PVEAPIToken={lab8.ro_token}"})
    assert ro.status_code == 403
    bad = lab8.request("POST", "/pools", poolid="no spaces")
    assert bad.status_code == 400 and "poolid" in bad.json()["errors"]
    assert lab8.get("/pools") == []


def test_pool_create_needs_quorum(lab8: LabHandle) -> None:
    lab8.make_cluster()
    lab8.lab("fail", "pve02")
    lab8.lab("fail", "pve03")
    try:
        r = lab8.request("POST", "/pools", poolid="pve-provision-lock")
        assert r.status_code == 500 and "no quorum" in r.json()["message"]
    finally:
        lab8.lab("recover", "pve02")
        lab8.lab("recover", "pve03")
    lab8.wait(lambda: lab8.request("POST", "/pools", poolid="after").status_code == 200, what="quorum back")
    lab8.ok("DELETE", "/pools/after")
