"""Post a file as the merge request's pve-provision note, or update the note a previous
push posted, so the merge request carries one plan that is always current.

    python3 mr-note.py plan.md

Standard library only (it runs in the CI image before anything else is installed).
The token comes from the environment (MR_NOTE_TOKEN), never from the command line; the
project, merge request and API URL come from GitLab's predefined CI variables.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- pve-provision-plan -->"


def _call(method: str, path: str, body: dict[str, str] | None = None) -> Any:
    url = f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "PRIVATE-TOKEN": os.environ["MR_NOTE_TOKEN"], "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _existing(notes_path: str) -> int | None:
    page = 1
    while True:
        notes = _call("GET", f"{notes_path}?per_page=100&page={page}&sort=asc")
        for note in notes:
            if str(note.get("body", "")).startswith(MARKER):
                return int(note["id"])
        if len(notes) < 100:
            return None
        page += 1


def main(argv: list[str]) -> int:
    missing = [v for v in ("CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "MR_NOTE_TOKEN")
               if not os.environ.get(v)]
    if len(argv) != 1 or missing:
        print(f"usage: MR_NOTE_TOKEN=... python3 mr-note.py FILE (in a merge request pipeline); "
              f"missing: {', '.join(missing) or 'FILE'}", file=sys.stderr)
        return 1
    body = f"{MARKER}\n{Path(argv[0]).read_text(encoding='utf-8')}"
    notes_path = f"/merge_requests/{os.environ['CI_MERGE_REQUEST_IID']}/notes"
    note = _existing(notes_path)
    if note is None:
        _call("POST", notes_path, {"body": body})
    else:
        _call("PUT", f"{notes_path}/{note}", {"body": body})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
