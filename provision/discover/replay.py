"""Serve recorded API answers instead of a live cluster.

A recording is a JSON object mapping `path[?query]` to the `data` payload. It
backs the fixture-driven tests (the whole discovery path, request counting and
all, without a network) and lets a plan be made offline from a capture.
Missing paths answer like PVE does for an unknown or failing call: HTTP 500,
or 501 for a method that does not exist on this version (HA rules on PVE 8).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from provision.discover.client import HttpStatusError


class ReplayTransport:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayTransport:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def __call__(self, path: str, params: dict[str, Any]) -> Any:
        key = path + (f"?{urlencode(sorted(params.items()))}" if params else "")
        if key in self.answers:
            return json.loads(json.dumps(self.answers[key]))  # a fresh copy per call
        if path == "/cluster/ha/rules":
            raise HttpStatusError(501, "Method 'GET /cluster/ha/rules' not implemented")
        raise HttpStatusError(500, f"no recorded answer for GET {key}")
