"""`provision import` writes secret references the stack loader accepts: a storage
whose name would turn its variable into one of pve-provision's own
(`PROVISION_*`, `PVE_LAB_*`) gets a `STORAGE_` prefix instead of a stack that fails."""

from __future__ import annotations

from pathlib import Path

from provision.discover.export import to_stack
from provision.spec import Connection, load_stack, load_text

ROOT = Path(__file__).resolve().parents[2]


def test_imported_secret_names_never_collide_with_the_tools_own(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / "lab.yaml").read_text(encoding="utf-8")
    text = text.replace("name: pbs-backup", "name: provision-backup", 1)
    cluster = load_text(text, "lab.yaml").cluster
    exported = to_stack(cluster, Connection(lab="default"))
    assert "      env: STORAGE_PROVISION_BACKUP_PASSWORD\n" in exported
    path = tmp_path / "imported.yaml"
    path.write_text(exported, encoding="utf-8")
    assert load_stack(path).cluster.storage_by_name("provision-backup") is not None
