"""`make bench` runs: the scale bench at its smallest size, through the real CLI, lab,
replay server and plot (what `make bench-smoke` runs). Asserts what the bench
measured, never how fast: the converged stack plans to nothing, the changed one to its
K changes, the baseline read every object, the replay answered every request the lab
had answered, and the three output files are what they claim to be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, PROVISION_HOME=str(out / "home"),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--smoke", "--changes", "4",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "smoke.json").read_text())


def test_the_bench_measures_both_clients_on_the_lab_and_on_the_replay(smoke: tuple[Path, dict[str, Any]]) -> None:
    _, result = smoke
    (row,) = result["rows"]
    assert (row["nodes"], row["osds"], row["ha"]) == (3, 6, 10)
    for where in ("lab", "replay"):
        r = row[where]
        assert r["cli_actions"] == 0  # a converged lab: the plan of its own stack is empty
        assert r["refresh_requests"] == row["objects"] and r["refresh_failed"] == 0
        assert 0 < r["discover_requests"] < r["refresh_requests"]
        assert r["cli_requests"] >= r["discover_requests"]
        for key in ("cli_plan_s", "discover_plan_s", "refresh_s"):
            assert r[key]["value"] > 0 and r[key]["load"] >= 0  # every figure carries its load average
    assert row["replay_misses"] == 0  # the replay served every request from the recording
    assert row["changed"]["actions"] == row["changed"]["changes"] == 4
    assert row["lab"]["cli_peak_rss_mib"]["value"] > 10


def test_the_bench_writes_a_table_json_and_a_png(smoke: tuple[Path, dict[str, Any]]) -> None:
    out, result = smoke
    table = (out / "smoke.md").read_text()
    assert "| 3 nodes / 6 OSDs / 10 HA |" in table and "ratio vs replay" in table
    assert (out / "smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["latency_ms"] == 20
