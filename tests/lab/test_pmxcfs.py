"""/etc/pve on every lab node is a FUSE mount with pmxcfs's rules (pve-cluster
src/pmxcfs/): what a node writes is in the cluster database and on every other node;
only mode 0640 (0600 under priv/) and owner root:www-data are accepted; no symlinks, no
renames from another filesystem, no file over 1 MiB; read-only without quorum."""

from __future__ import annotations

import errno
import grp
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from labkit import PROVISION, LabHandle, start_lab


def _etc_pve(lab: LabHandle, node: str) -> Path:
    return lab.root / "nodes" / node / "root" / "etc" / "pve"


def _conf(lab: LabHandle, node: str) -> str:
    return (_etc_pve(lab, node) / "corosync.conf").read_text()


def _errno(fn: object, *args: object) -> int:
    try:
        fn(*args)  # type: ignore[operator]
    except OSError as exc:
        return int(exc.errno or 0)
    return 0


def test_api_writes_appear_on_every_node(lab8: LabHandle) -> None:
    lab8.make_cluster()
    for node in ("pve01", "pve02", "pve03"):
        text = _conf(lab8, node)
        assert "cluster_name: prod" in text and text.count("node {") == 3
    lab8.ok("POST", "/storage", storage="nfs1", type="nfs", server="10.0.0.5", export="/e", content="iso")
    assert "nfs: nfs1" in (_etc_pve(lab8, "pve03") / "storage.cfg").read_text()


def test_manual_corosync_edit_protocol_takes_effect(lab8: LabHandle) -> None:
    """pvecm.adoc: edit a copy, bump config_version, move it over the original."""
    root = _etc_pve(lab8, "pve02")
    old = _conf(lab8, "pve02")
    version = int(re.search(r"config_version: (\d+)", old).group(1))  # type: ignore[union-attr]
    new = old.replace(f"config_version: {version}", f"config_version: {version + 1}")
    new = new.replace("    linknumber: 0\n", "    knet_link_priority: 42\n    linknumber: 0\n")
    (root / "corosync.conf.new").write_text(new)
    (root / "corosync.conf.new").replace(root / "corosync.conf")
    totem = lab8.get("/cluster/config/totem")
    assert totem["config_version"] == str(version + 1)
    assert totem["interface"]["0"]["knet_link_priority"] == "42"
    assert "knet_link_priority: 42" in _conf(lab8, "pve03")  # pmxcfs shows it everywhere
    status = lab8.node("pve01", "pvecm", "status").stdout
    assert re.search(rf"Config Version:\s+{version + 1}\b", status)


def test_modes_and_owner_are_fixed(lab8: LabHandle) -> None:
    """pmxcfs.c cfs_fuse_getattr/chmod/chown: 0640 root:www-data, 0600 under priv/."""
    root = _etc_pve(lab8, "pve01")
    f = root / "modes.cfg"
    f.write_text("x\n")
    st = f.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 0
    assert st.st_gid == grp.getgrnam("www-data").gr_gid
    assert _errno(os.chmod, f, 0o640) == 0
    assert _errno(os.chmod, f, 0o644) == errno.EPERM
    assert _errno(os.chmod, f, 0o600) == errno.EPERM
    assert _errno(os.chown, f, 1000, -1) == errno.EPERM
    assert _errno(os.chown, f, 0, -1) == 0
    priv = root / "priv" / "modes.key"
    priv.parent.mkdir(exist_ok=True)
    priv.write_text("k\n")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert _errno(os.chmod, priv, 0o600) == 0
    assert _errno(os.chmod, priv, 0o640) == errno.EPERM
    f.unlink()
    priv.unlink()


def test_no_links_no_cross_filesystem_rename_no_big_files(lab8: LabHandle, tmp_path: Path) -> None:
    root = _etc_pve(lab8, "pve01")
    assert _errno(os.symlink, "storage.cfg", root / "alias") == errno.ENOSYS
    assert _errno(os.link, root / "storage.cfg", root / "hard") in (errno.ENOSYS, errno.EPERM)
    outside = tmp_path / "staged.cfg"
    outside.write_text("y\n")
    assert _errno(os.rename, outside, root / "staged.cfg") == errno.EXDEV
    # another node's /etc/pve is another mount on a real cluster
    (root / "mine.cfg").write_text("z\n")
    assert _errno(os.rename, root / "mine.cfg", _etc_pve(lab8, "pve02") / "theirs.cfg") == errno.EXDEV
    (root / "mine.cfg").unlink()
    with pytest.raises(OSError) as big, (root / "big.cfg").open("wb") as fh:
        fh.write(b"a" * (1024 * 1024 + 1))
    assert big.value.errno == errno.EFBIG
    (root / "big.cfg").unlink(missing_ok=True)


def test_ansible_copy_into_etc_pve_fails_as_on_pmxcfs(lab8: LabHandle, tmp_path: Path) -> None:
    """ansible.builtin.copy chmods its temporary file: refused by pmxcfs (ansible/ansible#83411)."""
    dest = _etc_pve(lab8, "pve01") / "copied.cfg"
    play = tmp_path / "copy.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.copy: {{content: \"hello\\n\", dest: \"{dest}\", mode: \"0640\"}}\n"
    )
    p = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-c", "local", "-i", "localhost,",
                        "-e", f"ansible_python_interpreter={sys.executable}", str(play)],
                       capture_output=True, text=True, timeout=300, env=lab8.env())
    assert p.returncode != 0
    assert "Operation not permitted" in p.stdout
    assert not dest.exists()
    # the way admins write there: a plain write (cp, tee, shell redirection)
    subprocess.run(["cp", str(play), str(dest)], check=True)
    assert dest.read_text() == play.read_text()
    dest.unlink()


def test_without_quorum_the_mount_is_read_only(lab8: LabHandle) -> None:
    lab8.lab("fail", "pve02")
    lab8.lab("fail", "pve03")
    try:
        root = _etc_pve(lab8, "pve01")
        before = (root / "storage.cfg").read_text()
        assert stat.S_IMODE((root / "storage.cfg").stat().st_mode) == 0o440
        with pytest.raises(PermissionError):
            (root / "storage.cfg").write_text(before + "\ndir: sneaky\n\tpath /tmp\n")
        with pytest.raises(PermissionError):
            (root / "new.cfg").write_text("x\n")
        assert _errno(os.unlink, root / "storage.cfg") == errno.EACCES
        assert not any(s["storage"] == "sneaky" for s in lab8.get("/storage"))
        assert (root / "storage.cfg").read_text() == before
        # a node that is off serves nothing
        assert _errno(os.listdir, _etc_pve(lab8, "pve02")) == errno.ENOTCONN
    finally:
        lab8.lab("recover", "pve02")
        lab8.lab("recover", "pve03")


def _mounted(path: Path) -> bool:
    return any(line.split()[4] == str(path) for line in Path("/proc/self/mountinfo").read_text().splitlines())


def test_down_unmounts_even_after_the_daemon_was_killed(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, "m1", "--nodes", "1")
    mount = lab.root / "pmxcfs"
    assert _mounted(mount)
    assert (lab.root / "nodes/pve01/root/etc/pve/storage.cfg").exists()
    os.kill(int((lab.root / "pmxcfs.pid").read_text()), signal.SIGKILL)  # a crash leaves a dead mount
    p = subprocess.run([PROVISION, "lab", "down", "--name", "m1"], env=lab.env(), text=True, capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert not _mounted(mount)
    assert not lab.root.exists()
