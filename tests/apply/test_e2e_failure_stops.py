"""A failed action stops the whole run before anything else starts, on every node:
every later phase is not done, and the report says so truthfully (issue 10, item 4).
Nodes of one play run side by side (issue 17): another node's action of the same play
may already be under way when the failure comes; it finishes, and the report says
what it did."""

from __future__ import annotations

import json

import pytest
from e2e_lab import Lab, stack_copy

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

OSD_LAST = "      - {node: pve03, device: /dev/sdg, device_class: ssd}"


@pytest.fixture(scope="module")
def lab(built_lab: Lab) -> Lab:
    return built_lab


def test_a_failed_action_stops_every_node_before_the_next_phase(lab: Lab) -> None:
    def edit(text: str) -> str:
        assert OSD_LAST in text
        text = text.replace(OSD_LAST, OSD_LAST + "\n      - {node: pve01, device: /dev/sdz}"
                                                  "\n      - {node: pve03, device: /dev/sdh}")
        text = text.replace("  pools:\n", "  pools:\n    - {name: extra, size: 3, min_size: 2}\n", 1)
        return text.replace("\nstorage:\n", "\nstorage:\n  - {name: extra-rbd, type: rbd, pool: extra, "
                                              "content: [images]}\n", 1)

    stack = stack_copy(lab.work / "failing.yaml", edit)
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert final["status"] == "failed"
    assert final["failed"] == ['ceph.osd["pve01:/dev/sdz"]#create']
    sdh = 'ceph.osd["pve03:/dev/sdh"]#create'  # pve03's own action in the same play
    assert final["done"] in ([], [sdh])
    assert set(final["not_done"]) == {'ceph.pool["extra"]#create', 'storage["extra-rbd"]#add'} | (
        set() if final["done"] else {sdh})
    assert any("/dev/sdz on pve01: no such disk" in e for e in final["errors"]), final["errors"]
    pools = json.loads(lab.node_cli("pve01", "pvesh", "get", "/nodes/pve01/ceph/pool", "--output-format",
                                    "json").stdout)
    assert "extra" not in {p["pool_name"] for p in pools}
    disks = json.loads(lab.node_cli("pve03", "pvesh", "get", "/nodes/pve03/disks/list", "--output-format",
                                    "json").stdout)
    created = next(d for d in disks if d["devpath"] == "/dev/sdh").get("osdid", -1) not in (-1, None)
    assert created == (sdh in final["done"])  # the report says what the cluster has
    storages = json.loads(lab.node_cli("pve01", "pvesh", "get", "/storage", "--output-format", "json").stdout)
    assert "extra-rbd" not in {s["storage"] for s in storages}
