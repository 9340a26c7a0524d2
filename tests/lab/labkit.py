"""Test helpers for the lab: a running lab over HTTPS and through its real CLIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

PROVISION = str(Path(sys.executable).parent / "provision")


class LabHandle:
    """A running lab: its files, an authenticated HTTPS session, and CLI runners."""

    def __init__(self, home: Path, name: str) -> None:
        self.home = home
        self.name = name
        self.root = home / "labs" / name
        self.conn: dict[str, Any] = json.loads((self.root / "connection.json").read_text())
        self.url = self.conn["api_url"]
        self.token = Path(self.conn["token_file"]).read_text().strip()
        self.ro_token = Path(self.conn["readonly_token_file"]).read_text().strip()
        self.session = requests.Session()
        self.session.verify = self.conn["ca_file"]
        self.session.headers["Authorization"] = f"PVEAPIToken={self.token}"
        # tokens made on one node alone while it was standalone (docs/lab-contract.md)
        self.node_tokens = {n: Path(b["token_file"]).read_text().strip()
                            for n, b in self.conn.get("bootstrap", {}).items()}

    # --- HTTP ---------------------------------------------------------------------------------

    def request(self, method: str, api_path: str, /, as_node: str | None = None, **params: Any) -> requests.Response:
        """``as_node`` sends the request to that node's own address. Like an admin who holds
        every node's token, it uses the cluster's token and, where that node's /etc/pve does
        not know it (a standalone node), the token made on that node."""
        kwargs: dict[str, Any] = {"params": params} if method in ("GET", "DELETE") else {"data": params}
        url = (self.conn["node_api_urls"][as_node] if as_node else self.url) + api_path
        # verify= per request: requests lets $REQUESTS_CA_BUNDLE override Session.verify
        r = self.session.request(method, url, timeout=30, verify=self.conn["ca_file"], **kwargs)
        if r.status_code == 401 and as_node in self.node_tokens:
            r = self.session.request(method, url, timeout=30, verify=self.conn["ca_file"], **kwargs,
                                     headers={"Authorization": f"PVEAPIToken={self.node_tokens[as_node]}"})
        return r

    def ok(self, method: str, api_path: str, /, as_node: str | None = None, **params: Any) -> Any:
        r = self.request(method, api_path, as_node, **params)
        assert r.status_code == 200, f"{method} {api_path}: {r.status_code} {r.text}"
        return r.json()["data"]

    def get(self, api_path: str, /, as_node: str | None = None, **params: Any) -> Any:
        return self.ok("GET", api_path, as_node, **params)

    # --- CLIs ---------------------------------------------------------------------------------

    def env(self, node: str | None = None) -> dict[str, str]:
        env = dict(os.environ, PROVISION_HOME=str(self.home))
        if node:
            env.update(PVE_LAB_DIR=str(self.root), PVE_LAB_NODE=node)
        return env

    def lab(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``provision lab <args> --name <this lab>``."""
        p = subprocess.run([PROVISION, "lab", *args, "--name", self.name], env=self.env(), text=True,
                           capture_output=True, timeout=60)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def node(self, node: str, cmd: str, *args: str, check: bool = True, stdin: str | None = None
             ) -> subprocess.CompletedProcess[str]:
        """Run a node CLI from the lab's ``bin/`` as ``node``."""
        p = subprocess.run([str(self.root / "bin" / cmd), *args], env=self.env(node), text=True,
                           capture_output=True, timeout=60, input=stdin)
        if check:
            assert p.returncode == 0, f"{cmd} {args}: rc={p.returncode} {p.stderr}"
        return p

    def wait(self, pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = pred()
            if last:
                return last
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})")

    # --- scenarios ----------------------------------------------------------------------------

    def trust_ssh(self, src: str, dst: str, dst_addr: str) -> None:
        """What an admin does before `pvecm add --use_ssh`: authorize src's root key on dst
        and pin dst's host key in src's known_hosts."""
        _trust(self.root / "nodes" / src / "root", self.root / "nodes" / dst / "root", dst_addr)

    def trust_qnetd(self, src: str, address: str) -> None:
        """What an admin does before `pvecm qdevice setup`: authorize src's root key on the
        QNetd host and pin that host's key in src's known_hosts."""
        _trust(self.root / "nodes" / src / "root", self.root / "hosts" / address / "root", address)

    def host_apt(self, address: str, *packages: str) -> subprocess.CompletedProcess[str]:
        """`apt-get install -y PACKAGES` on an external host (the QNetd host)."""
        env = dict(os.environ, PVE_LAB_DIR=str(self.root), PVE_LAB_HOST=address)
        return subprocess.run([str(self.root / "bin" / "apt-get"), "install", "-y", *packages], env=env, text=True,
                              capture_output=True, timeout=60, check=False)

    def prepare_qdevice(self, address: str, runner: str = "pve01") -> None:
        """Everything `pvecm qdevice setup` needs (pvecm.adoc): corosync-qnetd on the QNetd
        host (started with `--qnetd ADDRESS`), corosync-qdevice on every node, trust."""
        assert self.host_apt(address, "corosync-qnetd").returncode == 0
        for n in self.conn["nodes"]:
            self.node(n, "apt-get", "install", "-y", "corosync-qdevice")
        self.trust_qnetd(runner, address)

    def make_cluster(self, name: str = "prod") -> None:
        """Create a cluster on pve01 and join every other node over the API."""
        self.ok("POST", "/cluster/config", as_node="pve01", clustername=name)
        for i, n in enumerate(self.conn["nodes"][1:], start=2):
            self.ok("POST", "/cluster/config/join", as_node=n, hostname="192.168.10.11",
                    fingerprint=self.conn["fingerprint"], password="secret", link0=f"192.168.10.{10 + i}")


def start_lab(home: Path, name: str, *args: str) -> LabHandle:
    p = subprocess.run([PROVISION, "lab", "up", "--name", name, *args], env=dict(os.environ, PROVISION_HOME=str(home)),
                       text=True, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return LabHandle(home, name)


def stop_lab(lab: LabHandle) -> None:
    subprocess.run([PROVISION, "lab", "down", "--name", lab.name], env=lab.env(), capture_output=True, timeout=60)


def _trust(src_root: Path, dst_root: Path, dst_addr: str) -> None:
    """Authorize src's root key on dst and pin dst's host key (at `dst_addr`) in src's known_hosts."""
    kind, key = (dst_root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
    (src_root / "root/.ssh").mkdir(parents=True, exist_ok=True)
    (dst_root / "root/.ssh").mkdir(parents=True, exist_ok=True)
    with (src_root / "root/.ssh/known_hosts").open("a") as f:
        f.write(f"{dst_addr} {kind} {key}\n")
    with (dst_root / "root/.ssh/authorized_keys").open("a") as f:
        f.write((src_root / "root/.ssh/id_rsa.pub").read_text())
