"""Adapter between the lab's typed views (``files.py``) and the text formats.

INTERIM: ``provision.lab.formats.ceph_conf`` and ``.datacenter`` are still being written by
another engineer. Until they land this module carries the smallest text layer the Ceph
handlers need; when they land, these functions become thin calls into them.
"""

from __future__ import annotations

from typing import Any

# --- ceph.conf / datacenter.cfg ---------------------------------------------------------------


def ceph_conf_to_text(conf: dict[str, dict[str, str]]) -> str:
    blocks = []
    for sect, kv in conf.items():
        lines = [f"[{sect}]"] + [f"\t {k} = {v}" for k, v in kv.items()]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def ceph_conf_from_text(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    cur: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            cur = out.setdefault(line.strip("[]"), {})
        elif cur is not None and "=" in line:
            k, _, v = line.partition("=")
            cur[k.strip()] = v.strip()
    return out


def datacenter_from_text(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw in text.splitlines():
        if ":" in raw and not raw.startswith("#"):
            k, _, v = raw.partition(":")
            out[k.strip()] = v.strip()
    return out
