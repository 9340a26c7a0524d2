"""API faults take effect; many parallel writers (CLI processes and API clients) lose nothing."""

from __future__ import annotations

import multiprocessing
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from labkit import LabHandle

from provision.lab.store import Store


@pytest.fixture(scope="module")
def lab(lab8: LabHandle) -> LabHandle:
    return lab8


def _statuses(lab: LabHandle, n: int) -> list[int]:
    return [lab.request("GET", "/version").status_code for _ in range(n)]


def test_api_error_rate_is_seeded_and_clearable(lab: LabHandle) -> None:
    lab.lab("faults", "--api-error-rate", "1.0")
    r = lab.request("GET", "/version")
    assert r.status_code == 500 and r.json()["data"] is None and "injected" in r.json()["message"]
    lab.lab("faults", "--api-error-rate", "0.5", "--seed", "7")
    first = _statuses(lab, 40)
    assert set(first) == {200, 500}
    lab.lab("faults", "--api-error-rate", "0.5", "--seed", "7")
    assert _statuses(lab, 40) == first  # same seed, same sequence
    lab.lab("faults", "--clear")
    assert set(_statuses(lab, 10)) == {200}


def test_api_latency(lab: LabHandle) -> None:
    lab.lab("faults", "--latency-ms", "300")
    try:
        start = time.monotonic()
        assert lab.request("GET", "/version").status_code == 200
        assert time.monotonic() - start >= 0.3  # a lower bound the server guarantees
    finally:
        lab.lab("faults", "--clear")


def test_parallel_cli_and_api_writers_lose_nothing(lab: LabHandle) -> None:
    cli_ids = [f"cli{i}" for i in range(12)]
    api_ids = [f"api{i}" for i in range(12)]
    procs = [
        subprocess.Popen([str(lab.root / "bin/pvesh"), "create", "/storage", "--storage", sid, "--type", "dir",
                          "--path", f"/srv/{sid}"], env=lab.env(f"pve0{1 + i % 3}"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for i, sid in enumerate(cli_ids)
    ]

    def api_write(sid: str) -> int:
        return lab.request("POST", "/storage", storage=sid, type="dir", path=f"/srv/{sid}").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(api_write, api_ids))
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert codes == [200] * 12
    have = {s["storage"] for s in lab.get("/storage")}
    assert set(cli_ids + api_ids) <= have


def test_parallel_network_edits_on_one_node(lab: LabHandle) -> None:
    names = [f"vmbr{i}" for i in range(10, 30)]

    def create(name: str) -> int:
        return lab.request("POST", "/nodes/pve01/network", iface=name, type="bridge").status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(create, names)) == [200] * 20
    staged = {i["iface"] for i in lab.get("/nodes/pve01/network", type="bridge")}
    assert set(names) <= staged
    lab.ok("DELETE", "/nodes/pve01/network")


def _increment(db: str, times: int) -> None:
    store = Store(Path(db))
    for _ in range(times):
        with store.tx():
            cur = int(store.get_file("counter") or "0")
            store.put_file("counter", str(cur + 1))
    store.close()


def test_store_read_modify_write_from_many_processes(tmp_path: Path) -> None:
    db = tmp_path / "pmxcfs.db"
    Store(db, create=True).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_increment, args=(str(db), 25)) for _ in range(20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Store(db) as st:
        assert st.get_file("counter") == "500"
        assert st.file_version("counter") == 500
