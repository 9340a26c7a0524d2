"""library/pve_line.py: many writers of one file (every joining node authorizing its key
on the first node at once) each keep their line; a line already there is left alone."""

from __future__ import annotations

import importlib.util
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType

from provision.apply.render import PLAYBOOKS_DIR


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pve_line", PLAYBOOKS_DIR / "library" / "pve_line.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _add(args: tuple[str, str]) -> bool:
    return bool(_module().ensure_line(args[0], args[1], 0o600))


def test_concurrent_writers_each_keep_their_line(tmp_path: Path) -> None:
    path = tmp_path / "root" / ".ssh" / "authorized_keys"
    keys = [f"ssh-rsa AAAAkey{n:02d} root@pve{n:02d}" for n in range(2, 33)]
    with ProcessPoolExecutor(max_workers=8) as pool:
        changed = list(pool.map(_add, [(str(path), k) for k in keys]))
    assert all(changed)
    assert sorted(path.read_text().splitlines()) == sorted(keys)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_present_line_is_left_alone_and_a_missing_newline_kept_apart(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("10.0.0.1 ssh-ed25519 AAAAone")  # no final newline
    assert not _add((str(path), "10.0.0.1 ssh-ed25519 AAAAone"))
    assert _add((str(path), "10.0.0.2 ssh-ed25519 AAAAtwo"))
    assert path.read_text() == "10.0.0.1 ssh-ed25519 AAAAone\n10.0.0.2 ssh-ed25519 AAAAtwo\n"
