from __future__ import annotations

import sys
from pathlib import Path

# the lab test kit (a running lab over HTTPS and through its CLIs)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
