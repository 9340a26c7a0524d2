"""`provision` with the apply lock's pool API kept in a JSON file under PROVISION_HOME.

Only for bench/apply_full_build.py while the lab has no /pools endpoint: everything
else (discovery, plan, playbooks, ansible-runner, verify) is the real code path.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import provision.cli.apply as cli_apply
from provision.apply import lock


class FilePools:
    def __init__(self) -> None:
        self.file = Path(os.environ["PROVISION_HOME"]) / "bench-pools.json"

    def _load(self) -> dict[str, str]:
        return json.loads(self.file.read_text()) if self.file.exists() else {}

    def create(self, poolid: str, comment: str) -> None:
        pools = self._load()
        if poolid in pools:
            raise RuntimeError(f"pool '{poolid}' already exists")
        pools[poolid] = comment
        self.file.write_text(json.dumps(pools))

    def comment(self, poolid: str) -> str | None:
        return self._load().get(poolid)

    def delete(self, poolid: str) -> None:
        pools = self._load()
        pools.pop(poolid, None)
        self.file.write_text(json.dumps(pools))


cli_apply._lock_for = lambda endpoint, desired: lock.ApplyLock(FilePools(), desired.name, cli_apply.STATE_DIR)

if __name__ == "__main__":
    from provision.cli import app

    sys.argv = ["provision", *sys.argv[1:]]
    app()
