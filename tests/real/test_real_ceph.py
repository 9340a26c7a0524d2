"""Real Ceph under the lab (``lab up --real-ceph``): 3 MONs, 2 MGRs and two BlueStore OSDs
per node, made by the lab's pveceph from tests/real/stacks/ceph.yaml (stacks/lab.yaml with
two OSDs per node and no CephFS). What the real
monitors report after a failure must be what ``provision simulate`` predicted, objects
written with ``rados put`` must read back, and ``lab down`` must leave no Ceph process or
file behind.

One real lab for the module (bring-up takes about a minute on 2 cores); the tests run in
file order and each undoes its fault and waits for HEALTH_OK again.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from real_lab import REPO, RealLab, up, workdir

from provision.lab.procs import alive

pytestmark = pytest.mark.e2e

SETTLE = 180.0  # peering and the MONs' down reports on 2 busy cores (mon_osd_report_timeout is 30 s)
OBJECTS = {f"obj-{i}": f"payload {i} ".encode() * 1000 for i in range(4)}


@pytest.fixture(scope="module")
def ceph_lab() -> Iterator[tuple[RealLab, Path]]:
    with workdir() as tmp:
        stack = REPO / "tests" / "real" / "stacks" / "ceph.yaml"
        lab = up(tmp / "home", tmp, "--real-ceph", "--from", str(stack))
        try:
            yield lab, stack
        finally:
            lab.cli("lab", "down", timeout=180)


def ceph(lab: RealLab, *argv: str, node: str = "pve01") -> Any:
    """The lab node's ``ceph`` command (the lab answers from the real monitors)."""
    proc = lab.node_cli(node, "ceph", *argv, "-f", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


_WHERE: dict[Path, dict[str, Any]] = {}


def rados(lab: RealLab, node: str, *argv: str, data: bytes | None = None) -> bytes:
    """The real ``rados`` client inside ``node``'s namespace, as the cluster's admin (the
    namespace names and the conf path are fixed for the lab's life: read once per lab)."""
    real = _WHERE.get(lab.home) or _WHERE.setdefault(lab.home, lab.status()["real"])
    proc = subprocess.run(["ip", "netns", "exec", real["node_ns"][node], "rados", "-c", real["ceph_conf"], *argv],
                          input=data, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


_POOLS: dict[Path, dict[int, str]] = {}


class View:
    """One look at the real monitors: ``ceph -s`` and the PG states, two client runs per
    poll (each ``ceph`` run is a Python client start on 2 busy cores, so a poll that asked
    for every figure separately cost more than the peering it waits for)."""

    def __init__(self, lab: RealLab, node: str = "pve01") -> None:
        self.status: dict[str, Any] = ceph(lab, "-s", node=node)
        dump = ceph(lab, "pg", "dump", "pgs_brief", node=node)
        self.pgs: list[dict[str, Any]] = dump["pg_stats"] if isinstance(dump, dict) else dump  # Pacific+ wrap it
        ids = _POOLS.setdefault(lab.home, {})
        if not ids or any(int(pg["pgid"].split(".")[0]) not in ids for pg in self.pgs):  # a pool the cache lacks
            ids.clear()
            ids.update({p["pool_id"]: p["pool_name"] for p in ceph(lab, "osd", "pool", "ls", "detail", node=node)})
        self.pool_names = dict(ids)

    def pool_states(self) -> dict[str, str]:
        """Each pool as simulate words it, from the real PG states: ``blocked`` if a PG is not
        active, ``degraded`` if one is undersized or degraded, else ``ok``."""
        out = {name: "ok" for name in self.pool_names.values()}
        for pg in self.pgs:
            name = self.pool_names[int(pg["pgid"].split(".")[0])]
            words = set(pg["state"].split("+"))
            if "active" not in words:
                out[name] = "blocked"
            elif words & {"undersized", "degraded"} and out[name] == "ok":
                out[name] = "degraded"
        return out

    def settled(self) -> bool:
        """No PG in a passing state (peering, stale, unknown...): the monitors' view is final."""
        passing = {"peering", "stale", "unknown", "activating", "remapped", "creating", "recovering", "backfilling"}
        return bool(self.pgs) and not any(set(pg["state"].split("+")) & passing for pg in self.pgs)


def wait_until(what: str, check: Any) -> Any:
    deadline = time.monotonic() + SETTLE
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2.0)
    raise AssertionError(f"{what}: last seen {last!r}")


def healthy(lab: RealLab) -> None:
    def ok() -> bool:
        v = View(lab)
        return bool(v.status["health"]["status"] == "HEALTH_OK" and v.settled() and all(
            s == "ok" for s in v.pool_states().values()))
    wait_until("HEALTH_OK with every PG active+clean", ok)


def predicted_ceph(lab: RealLab, stack: Path, *what_if: str) -> dict[str, Any]:
    doc = json.loads(lab.ok("simulate", str(stack), *what_if, "--format", "json"))
    ceph_: dict[str, Any] = doc["scenarios"][0]["steps"][-1]["ceph"]
    return ceph_


def osds_of(lab: RealLab, node: str) -> list[int]:
    tree = ceph(lab, "osd", "tree")
    host = next(n for n in tree["nodes"] if n["type"] == "host" and n["name"] == node)
    return sorted(host["children"])


def test_real_ceph_comes_up_healthy(ceph_lab: tuple[RealLab, Path]) -> None:
    lab, _ = ceph_lab
    healthy(lab)
    s = ceph(lab, "-s")
    assert sorted(s["quorum_names"]) == ["pve01", "pve02", "pve03"]
    assert (s["osdmap"]["num_osds"], s["osdmap"]["num_up_osds"]) == (6, 6)
    daemons = set(lab.status()["real"]["daemons"])
    assert {"ceph-mon@pve01/pve01", "ceph-mgr@pve01/pve01", "ceph-osd@0/pve01"} <= daemons
    # the CRUSH hosts are the lab's nodes, so the default rule puts copies on three nodes
    assert [osds_of(lab, n) != [] for n in ("pve01", "pve02", "pve03")] == [True] * 3
    for name, data in OBJECTS.items():
        rados(lab, "pve02", "-p", "vm-pool", "put", name, "-", data=data)


def test_one_nodes_osds_stopped_match_simulate(ceph_lab: tuple[RealLab, Path]) -> None:
    lab, stack = ceph_lab
    want = {p["name"]: p["state"] for p in predicted_ceph(lab, stack, "--fail", "pve03")["pools"]}
    assert want == {"vm-pool": "degraded"}
    osds = osds_of(lab, "pve03")
    for osd in osds:
        stop = lab.node_cli("pve03", "systemctl", "stop", f"ceph-osd@{osd}")
        assert stop.returncode == 0, stop.stderr

    def seen() -> dict[str, str] | None:
        v = View(lab)
        s = v.status
        if s["osdmap"]["num_up_osds"] != s["osdmap"]["num_osds"] - len(osds) or not v.settled():
            return None
        got = v.pool_states()
        return {k: v for k, v in got.items() if k in want} if {"OSD_DOWN", "PG_DEGRADED"} <= set(
            s["health"]["checks"]) else None

    assert wait_until("real Ceph after pve03's OSDs stopped", seen) == want
    for name, data in OBJECTS.items():  # min_size 2 of size 3: I/O goes on
        assert rados(lab, "pve01", "-p", "vm-pool", "get", name, "-") == data
    for osd in osds:
        assert lab.node_cli("pve03", "systemctl", "start", f"ceph-osd@{osd}").returncode == 0
    healthy(lab)


def test_node_failure_matches_simulate(ceph_lab: tuple[RealLab, Path]) -> None:
    lab, stack = ceph_lab
    want = predicted_ceph(lab, stack, "--fail", "pve03")
    lost = len(osds_of(lab, "pve03"))
    lab.ok("lab", "fail", "pve03")  # the power cord: its MON and OSDs die with it

    def seen() -> tuple[list[str], dict[str, str]] | None:
        v = View(lab, "pve01")
        s = v.status
        if s["osdmap"]["num_up_osds"] != s["osdmap"]["num_osds"] - lost or not v.settled():
            return None
        return sorted(s["quorum_names"]), {k: st for k, st in v.pool_states().items() if k == "vm-pool"}

    quorum, pools = wait_until("real Ceph after pve03 lost power", seen)
    assert want["mons"]["quorate"] and quorum == sorted(want["mons"]["up"])
    assert pools == {p["name"]: p["state"] for p in want["pools"]}
    assert "MON_DOWN" in ceph(lab, "-s")["health"]["checks"]
    lab.ok("lab", "recover", "pve03")
    healthy(lab)
    for name, data in OBJECTS.items():
        assert rados(lab, "pve03", "-p", "vm-pool", "get", name, "-") == data


def test_osd_removal_waits_for_real_ceph(ceph_lab: tuple[RealLab, Path]) -> None:
    """The plan that removes one of the two OSDs on each of the three hosts (size 3: every
    PG has a copy on each host, so every PG loses a copy) must wait on the real monitors'
    safe-to-destroy/ok-to-stop; at the end every PG is active+clean and every object reads
    back."""
    lab, stack = ceph_lab
    text = stack.read_text()
    shrunk = lab.work / "shrunk.yaml"
    shrunk.write_text("".join(line for line in text.splitlines(keepends=True) if "/dev/sdc" not in line))
    written = {f"late-{i}": f"before the removal {i} ".encode() * 2000 for i in range(6)}
    for name, data in written.items():
        rados(lab, "pve01", "-p", "vm-pool", "put", name, "-", data=data)

    plan = json.loads(lab.ok("plan", str(shrunk), "--prune", "--format", "json"))
    assert sorted(a["kind"] for a in plan["actions"]) == ["ceph_osd_destroy"] * 3, plan["actions"]
    out = lab.cli("apply", str(shrunk), "--prune", "--auto-approve", "--allow-destroy", "--output", "json",
                  timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert lab.cli("plan", str(shrunk), "--prune", "--detailed-exitcode").returncode == 0
    healthy(lab)
    s = ceph(lab, "-s")
    assert (s["osdmap"]["num_osds"], s["osdmap"]["num_up_osds"]) == (3, 3)
    for name, data in {**OBJECTS, **written}.items():
        assert rados(lab, "pve02", "-p", "vm-pool", "get", name, "-") == data


def test_lab_down_leaves_no_ceph_behind(ceph_lab: tuple[RealLab, Path]) -> None:
    lab, _ = ceph_lab
    real = lab.status()["real"]
    pids = [pid for key, pid in real["daemons"].items() if key.startswith("ceph-")]
    assert len(pids) == 3 + 2 + 3 and all(alive(p) for p in pids)  # after the removal: 3 OSDs
    ceph_dir = Path(real["ceph_conf"]).parent
    assert any(ceph_dir.glob("osd.*/block"))

    lab.ok("lab", "down")

    assert not [p for p in pids if alive(p)]
    assert not ceph_dir.exists() and not lab.lab_dir.exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not set(real["namespaces"]) & {line.split()[0] for line in netns.splitlines() if line.strip()}
