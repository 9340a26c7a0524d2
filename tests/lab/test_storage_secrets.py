"""Storage secrets live where PVE keeps them (/etc/pve/priv/...), never in storage.cfg,
and no API answer carries them, whichever token asks (pve-storage
API2/Storage/Config.pm + the plugins' hooks; docs/lab-contract.md "Storage secrets")."""

from __future__ import annotations

import json
from pathlib import Path

from labkit import LabHandle

PW = "s3cret-Pbs-Pw"
KEY = json.dumps({"kdf": None, "data": "a2V5LWRhdGE=", "fingerprint": "aa:bb:cc"})


def _pve(lab: LabHandle, node: str = "pve02") -> Path:
    return lab.root / "nodes" / node / "root" / "etc" / "pve"


def _everything_visible(lab: LabHandle) -> str:
    """Every storage answer, with the admin and the read-only token, as one text."""
    ro = {"Authorization": f"PVEAPIToken={lab.ro_token}"}
    texts = [json.dumps(lab.get("/storage")), json.dumps(lab.get("/storage/pbs1"))]
    for path in ("/storage", "/storage/pbs1"):
        r = lab.session.get(lab.url + path, headers=ro, verify=lab.conn["ca_file"], timeout=30)
        texts.append(r.text)
    return "\n".join(texts)


def test_pbs_password_and_key_go_to_priv_and_never_to_the_api(lab8: LabHandle) -> None:
    lab8.ok("POST", "/storage", storage="pbs1", type="pbs", server="192.168.10.6", datastore="main",
            username="backup@pbs", password=PW, **{"encryption-key": KEY})
    cfg = (_pve(lab8) / "storage.cfg").read_text()
    assert "pbs: pbs1" in cfg and PW not in cfg and "a2V5LWRhdGE=" not in cfg
    assert "encryption-key aa:bb:cc" in cfg  # only the key's fingerprint stays in the config
    assert (_pve(lab8) / "priv" / "storage" / "pbs1.pw").read_text() == f"{PW}\n"
    assert json.loads((_pve(lab8) / "priv" / "storage" / "pbs1.enc").read_text())["data"] == "a2V5LWRhdGE="
    seen = _everything_visible(lab8)
    assert PW not in seen and "a2V5LWRhdGE=" not in seen
    assert lab8.get("/storage/pbs1")["username"] == "backup@pbs"

    # a new password replaces the file; deleting the storage removes every secret file
    lab8.ok("PUT", "/storage/pbs1", password="other-pw")
    assert (_pve(lab8, "pve03") / "priv" / "storage" / "pbs1.pw").read_text() == "other-pw\n"
    assert "other-pw" not in _everything_visible(lab8)
    lab8.ok("PUT", "/storage/pbs1", delete="encryption-key")
    assert not (_pve(lab8) / "priv" / "storage" / "pbs1.enc").exists()
    assert "encryption-key" not in lab8.get("/storage/pbs1")
    lab8.ok("DELETE", "/storage/pbs1")
    assert not (_pve(lab8) / "priv" / "storage" / "pbs1.pw").exists()


def test_pbs_encryption_key_must_be_a_json_key(lab8: LabHandle) -> None:
    r = lab8.request("POST", "/storage", storage="pbs2", type="pbs", server="192.168.10.6", datastore="main",
                     username="backup@pbs", password=PW, **{"encryption-key": "not-json"})
    assert r.status_code == 500
    assert "Value does not seems like a valid, JSON formatted encryption key!" in r.json()["message"]
    assert "pbs2" not in (_pve(lab8) / "storage.cfg").read_text()


def test_cifs_password_and_rbd_keyring(lab8: LabHandle) -> None:
    lab8.ok("POST", "/storage", storage="smb1", type="cifs", server="10.0.0.9", share="backup",
            username="svc", password="cifs-Pw-1")
    assert (_pve(lab8) / "priv" / "storage" / "smb1.pw").read_text() == "password=cifs-Pw-1\n"
    lab8.ok("POST", "/storage", storage="ext-rbd", type="rbd", pool="vm", monhost="10.9.0.1",
            username="admin", keyring="[client.admin]\n\tkey = QUJDRA==\n")
    assert "QUJDRA==" in (_pve(lab8) / "priv" / "ceph" / "ext-rbd.keyring").read_text()
    for text in (json.dumps(lab8.get("/storage")), (_pve(lab8) / "storage.cfg").read_text()):
        assert "cifs-Pw-1" not in text and "QUJDRA==" not in text
