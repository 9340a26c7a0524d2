"""Serve recorded API answers instead of a live cluster.

A recording is a JSON object mapping `path[?query]` to the `data` payload. It
backs the fixture-driven tests (the whole discovery path, request counting and
all, without a network) and lets a plan be made offline from a capture.
An error answer is recorded as `{"__error__": [status, message]}`. A path
without a recording fails with HTTP 500 (a server failure, retried and then
reported), so a fixture must state "absent" explicitly, as PVE does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from provision.discover.errors import HttpStatusError


class ReplayTransport:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayTransport:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def __call__(self, path: str, params: dict[str, Any]) -> Any:
        key = path + (f"?{urlencode(sorted(params.items()))}" if params else "")
        if key in self.answers:
            answer = self.answers[key]
            if isinstance(answer, dict) and "__error__" in answer:
                status, message = answer["__error__"]
                raise HttpStatusError(int(status), str(message))
            return json.loads(json.dumps(answer))  # a fresh copy per call
        raise HttpStatusError(500, f"no recorded answer for GET {key}")
