"""Storage secrets as pve-storage handles them: `pvesm --keyring/--encryption-key/
--master-pubkey` take file paths, `--password` takes an optional value (else one line from
stdin), and the secrets land in /etc/pve/priv, never in storage.cfg or the API."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from labkit import LabHandle

PBS = ("--server", "192.168.10.6", "--datastore", "main", "--username", "backup@pbs")


@pytest.fixture(scope="module")
def lab(lab8: LabHandle) -> LabHandle:
    lab8.make_cluster()
    return lab8


def _etc_pve(lab: LabHandle) -> Path:
    return lab.root / "nodes" / "pve02" / "root" / "etc" / "pve"


def test_pbs_password_from_stdin_goes_to_priv(lab: LabHandle) -> None:
    lab.node("pve01", "pvesm", "add", "pbs", "pbs1", *PBS, "--password", stdin="-starts-with-dash\n")
    pw = _etc_pve(lab) / "priv" / "storage" / "pbs1.pw"
    assert pw.read_text() == "-starts-with-dash\n"
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600
    cfg = (_etc_pve(lab) / "storage.cfg").read_text()
    assert "pbs: pbs1" in cfg and "password" not in cfg and "starts-with-dash" not in cfg
    assert "password" not in lab.get("/storage/pbs1")


def test_password_value_starting_with_a_dash_is_not_a_value(lab: LabHandle) -> None:
    p = lab.node("pve01", "pvesm", "add", "pbs", "pbs2", *PBS, "--password", "-starts-with-dash", check=False,
                 stdin="")
    assert p.returncode != 0
    assert "pbs2" not in {s["storage"] for s in lab.get("/storage")}
    v = lab.node("pve01", "pvesm", "add", "pbs", "pbs3", *PBS, "--password", "plain", stdin="")
    assert v.returncode == 0  # a value is accepted (and visible in ps: the product must not do this)
    assert (_etc_pve(lab) / "priv" / "storage" / "pbs3.pw").read_text() == "plain\n"


def test_encryption_key_and_keyring_are_file_paths(lab: LabHandle, tmp_path: Path) -> None:
    key = {"kdf": None, "data": "c2VjcmV0", "fingerprint": "aa:bb:cc"}
    as_value = lab.node("pve01", "pvesm", "add", "pbs", "enc1", *PBS, "--password", "x", "--encryption-key",
                        json.dumps(key), check=False)
    assert as_value.returncode != 0 and "can't open '{" in as_value.stderr
    keyfile = tmp_path / "enc.json"
    keyfile.write_text(json.dumps(key))
    lab.node("pve01", "pvesm", "add", "pbs", "enc1", *PBS, "--password", "x", "--encryption-key", str(keyfile))
    assert json.loads((_etc_pve(lab) / "priv" / "storage" / "enc1.enc").read_text()) == key
    assert "encryption-key aa:bb:cc" in (_etc_pve(lab) / "storage.cfg").read_text()
    assert lab.get("/storage/enc1")["encryption-key"] == "aa:bb:cc"

    keyring = "[client.admin]\n\tkey = AQBexternalkey==\n"
    bad = lab.node("pve01", "pvesm", "add", "rbd", "ext1", "--monhost", "10.9.9.1", "--pool", "p", "--keyring",
                   keyring, check=False)
    assert bad.returncode != 0 and "can't open '[client.admin]" in bad.stderr
    ring = tmp_path / "ext.keyring"
    ring.write_text(keyring)
    lab.node("pve01", "pvesm", "add", "rbd", "ext1", "--monhost", "10.9.9.1", "--pool", "p", "--keyring", str(ring))
    assert (_etc_pve(lab) / "priv" / "ceph" / "ext1.keyring").read_text() == keyring
    assert "keyring" not in (_etc_pve(lab) / "storage.cfg").read_text()
    assert "keyring" not in lab.get("/storage/ext1")

    lab.node("pve01", "pvesm", "remove", "ext1")
    lab.node("pve01", "pvesm", "remove", "enc1")
    assert not (_etc_pve(lab) / "priv" / "ceph" / "ext1.keyring").exists()
    assert not (_etc_pve(lab) / "priv" / "storage" / "enc1.enc").exists()
    assert not (_etc_pve(lab) / "priv" / "storage" / "enc1.pw").exists()
