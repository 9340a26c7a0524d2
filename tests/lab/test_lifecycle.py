"""``provision lab up/down/status/env``: the contract files, clear errors, nothing left running."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from labkit import PROVISION, start_lab
from ruamel.yaml import YAML


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_up_writes_the_contract_and_down_removes_everything(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, "c1", "--nodes", "2", "--pve", "9")
    root = tmp_path / "labs" / "c1"
    try:
        conn = lab.conn
        assert set(conn) == {"name", "api_url", "ca_file", "fingerprint", "token_file", "readonly_token_file",
                             "node_api_urls", "bootstrap", "inventory", "bin_dir", "pve_version", "nodes",
                             "qnetd_hosts"}
        assert sorted(conn["node_api_urls"]) == sorted(conn["bootstrap"]) == ["pve01", "pve02"]
        assert conn["name"] == "c1" and conn["pve_version"] == 9 and conn["nodes"] == ["pve01", "pve02"]
        assert conn["api_url"].startswith("https://127.0.0.1:") and conn["api_url"].endswith("/api2/json")
        assert len(conn["fingerprint"].split(":")) == 32
        for key, token_id in (("token_file", "root@pam!provision"), ("readonly_token_file", "auditor@pve!readonly")):
            path = Path(conn[key])
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            line = path.read_text()
            assert line.endswith("\n") and line.count("\n") == 1
            assert line.strip().rsplit("=", 1)[0] == token_id
        for f in ("tls/ca.pem", "tls/server.pem", "tls/server.key", "pmxcfs.db", "server.pid"):
            assert (root / f).exists(), f
        for cmd in ("pvecm", "pveceph", "ha-manager", "pvesm", "pvesh", "ifreload", "qm", "ceph", "systemctl",
                    "systemd-run", "corosync-cfgtool"):
            assert os.access(root / "bin" / cmd, os.X_OK), cmd
        iface = (root / "nodes/pve02/root/etc/network/interfaces").read_text()
        assert "address 192.168.10.12/24" in iface and "bridge-ports eno1" in iface
        inv = YAML(typ="safe").load((root / "inventory.yml").read_text())
        hosts = inv["all"]["children"]["pve"]["hosts"]
        assert sorted(hosts) == ["pve01", "pve02"]
        h = hosts["pve02"]
        assert h["ansible_connection"] == "local"
        assert h["pve_env"]["PVE_LAB_NODE"] == "pve02"
        assert h["pve_env"]["PATH"].split(":")[0] == str(root / "bin")
        assert h["pve_root"] == str(root / "nodes/pve02/root")
        assert lab.get("/version")["version"] == "9.1.1"
        pid = int((root / "server.pid").read_text())
        assert _alive(pid)
    finally:
        p = subprocess.run([PROVISION, "lab", "down", "--name", "c1"], env=lab.env(), text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert not _alive(pid)
    assert not root.exists()


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, "c2", "--nodes", "2")
    try:
        again = subprocess.run([PROVISION, "lab", "up", "--name", "c2"], env=lab.env(), text=True,
                               capture_output=True)
        assert again.returncode == 1
        assert "already exists" in again.stderr and "Traceback" not in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
        bad = lab.lab("fail", "pve09", check=False)
        assert bad.returncode == 1 and "unknown node 'pve09'" in bad.stderr and "Traceback" not in bad.stderr
        env_out = lab.lab("env", "pve02").stdout
        assert "PVE_LAB_NODE='pve02'" in env_out and str(lab.root / "bin") in env_out
    finally:
        lab.lab("down")
    missing = subprocess.run([PROVISION, "lab", "status", "--name", "c2"], env=lab.env(), text=True,
                             capture_output=True)
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_status_table_and_json(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, "c3", "--nodes", "3")
    try:
        text = lab.lab("status").stdout
        for n in ("pve01", "pve02", "pve03"):
            assert n in text
        assert "ceph: not initialised" in text
        lab.make_cluster()
        lab.lab("fail", "pve03")
        import json

        st = json.loads(lab.lab("status", "--json").stdout)
        power = {n["node"]: n["power"] for n in st["nodes"]}
        assert power == {"pve01": "on", "pve02": "on", "pve03": "off"}
        assert st["cluster"] == "prod"
        assert [n["quorate"] for n in st["nodes"]] == [True, True, False]
    finally:
        lab.lab("down")
