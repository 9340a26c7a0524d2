"""Helpers for tests/real: a real lab through the public CLI, its status, and simulate.

Everything goes through the real ``provision`` command in a subprocess, against a lab in
a temporary PROVISION_HOME (so its namespace names are unique to the test run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROVISION = [sys.executable, "-m", "provision"]
SECRET = "real-lab-PBS-secret"
SETTLE = 90.0  # upper bound for corosync to notice a change (token 3 s + consensus, 2 busy cores)


@dataclass
class RealLab:
    home: Path
    work: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PROVISION_HOME": str(self.home), "PBS_PASSWORD": SECRET, "NO_COLOR": "1"}

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*PROVISION, *args], cwd=self.work, env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)

    def ok(self, *args: str) -> str:
        proc = self.cli(*args)
        assert proc.returncode == 0, f"provision {' '.join(args)}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        return proc.stdout

    @property
    def lab_dir(self) -> Path:
        return self.home / "labs" / "default"

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok("lab", "status", "--json"))
        return data

    def node_cli(self, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "PVE_LAB_DIR": str(self.lab_dir), "PVE_LAB_NODE": node,
               "PATH": f"{self.lab_dir / 'bin'}:{os.environ['PATH']}"}
        return subprocess.run(list(argv), env=env, capture_output=True, text=True, check=False, timeout=120,
                              stdin=subprocess.DEVNULL)


@contextmanager
def workdir() -> Iterator[Path]:
    """A private temp dir for one real lab, outside pytest's tmp_path rotation.

    pytest keeps only its last three base temp dirs per user; on a machine where other
    sessions run pytest at the same time a long test's tmp_path can vanish under it, and
    with it the state ``lab down`` needs to find the lab's namespaces and daemons."""
    with tempfile.TemporaryDirectory(prefix="pvp-real-") as d:
        yield Path(d)


def up(home: Path, work: Path, *args: str) -> RealLab:
    lab = RealLab(home, work)
    proc = lab.cli("lab", "up", "--real", *args, timeout=300)
    if proc.returncode != 0:  # on CI and as root this must work: fail, never skip
        raise AssertionError(f"real lab did not start: {proc.stdout}{proc.stderr}")
    return lab


def stack_copy(dst: Path, edit: Any = None, src: Path = REPO / "stacks" / "lab.yaml") -> Path:
    """``src`` (stacks/lab.yaml unless given) copied to ``dst``, with an optional text edit."""
    text = src.read_text()
    if edit is not None:
        text = edit(text)
    dst.write_text(text)
    return dst


Quorum = dict[str, tuple[tuple[str, ...], int, bool]]  # node -> (members it sees, votes, quorate)


def simulated(lab: RealLab, stack: Path, *what_if: str) -> dict[str, Any]:
    """``provision simulate --format json`` for ``what_if`` (one CLI run serves both the
    quorum and the HA prediction of a scenario)."""
    doc: dict[str, Any] = json.loads(lab.ok("simulate", str(stack), *what_if, "--format", "json"))
    return doc


def quorum_of(doc: dict[str, Any]) -> Quorum:
    """Each surviving node's partition in a simulate document's last step."""
    q = doc["scenarios"][0]["steps"][-1]["quorum"]
    out: Quorum = {}
    for p in q["partitions"]:
        for n in p["nodes"]:
            out[n] = (tuple(sorted(p["nodes"])), int(p["votes"]), bool(p["quorate"]))
    return out


def predicted(lab: RealLab, stack: Path, *what_if: str) -> Quorum:
    """``provision simulate`` for the same failure: each surviving node's partition."""
    return quorum_of(simulated(lab, stack, *what_if))


def observed(status: dict[str, Any]) -> Quorum:
    """The real lab's view: per powered node, the membership its corosync reports."""
    out: Quorum = {}
    for n in status["nodes"]:
        if n["power"] != "on" or not n["partition"]:
            continue
        out[n["node"]] = (tuple(sorted(n["partition"].split(","))), int(n["votes"].split("/")[0]), n["quorate"])
    return out


def wait_for(lab: RealLab, want: Quorum, what: str) -> Quorum:
    """Poll the real lab until its quorum equals ``want``; fail with the last view."""
    deadline = time.monotonic() + SETTLE
    seen: Quorum = {}
    while time.monotonic() < deadline:
        seen = observed(lab.status())
        if seen == want:
            return seen
        time.sleep(1.0)
    raise AssertionError(f"{what}: real corosync reports {seen}, simulate predicted {want}")


def wait_knet(lab: RealLab, viewer: str, peer: str, link: str, state: str) -> None:
    """Wait until knet on ``viewer`` reports ``link`` to ``peer`` in ``state`` (e.g. disconnected)."""
    deadline = time.monotonic() + SETTLE
    got = None
    while time.monotonic() < deadline:
        got = lab.status()["real"]["knet"].get(viewer, {}).get(link, {}).get(peer)
        if got == state:
            return
        time.sleep(1.0)
    raise AssertionError(f"knet on {viewer}: link {link} to {peer} is {got}, expected {state}")


def ha_of(doc: dict[str, Any]) -> dict[str, str]:
    """Where a simulate document puts each running HA service after the failure."""
    return {h["sid"]: h["after"] for h in doc["scenarios"][0]["steps"][-1]["ha"] if h["running_after"]}


def wait_ha(lab: RealLab, want: dict[str, str], what: str) -> None:
    """Poll until the lab's HA manager runs every service where ``want`` says."""
    deadline = time.monotonic() + SETTLE
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = {s["sid"]: s["node"] for s in lab.status()["ha"] if s["state"] == "started"}
        if seen == want:
            return
        time.sleep(1.0)
    raise AssertionError(f"{what}: HA services run on {seen}, simulate predicted {want}")


def fault_matches(lab: RealLab, stack: Path, what_if: list[str], *faults: list[str],
                  doc: dict[str, Any] | None = None) -> Quorum:
    """Predict ``what_if`` with simulate (or take ``doc``, simulate's answer for it), inject
    ``faults`` into the real lab, wait for the prediction; returns it (callers assert what it
    must say about the scenario)."""
    want = quorum_of(doc if doc is not None else simulated(lab, stack, *what_if))
    for f in faults:
        lab.ok("lab", *f)
    wait_for(lab, want, " ".join(what_if))
    return want
