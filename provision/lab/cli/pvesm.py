"""``pvesm add|set|remove|status``: ``/etc/pve/storage.cfg`` from the node shell.

Secrets are never option values here, as in pve-storage ``src/PVE/CLI/pvesm.pm``
(``$mapping``): ``--keyring``, ``--encryption-key`` (or ``autogen``) and
``--master-pubkey`` name *files* whose content is sent; ``--password`` takes an optional
value (Getopt ``password:s``, pve-common ``JSONSchema.pm`` get_options) and, without one,
reads a line from stdin when stdin is not a terminal (pve-common ``PTY.pm`` read_password).
"""

from __future__ import annotations

import base64
import sys

from provision.lab.cli.common import fail, node_context, options_as_params, parse_args
from provision.lab.registry import call

FLAGS = frozenset({"disable", "shared", "krbd", "sparse", "enabled", "fuse"})
FILE_OPTIONS = ("keyring", "encryption-key", "master-pubkey")


def _file(path: str) -> str:
    """pve-common ``PVE::File::file_get_contents``."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        fail(f"can't open '{path}' - {exc.strerror}")


def _password(argv: list[str]) -> tuple[list[str], str | None]:
    """Take ``--password [VALUE]`` out of ``argv``: a following word that starts with ``-``
    is the next option, not the value (then the password comes from stdin)."""
    out: list[str] = []
    password: str | None = None
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in ("--password", "-password"):
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                password = argv[i + 1]
                i += 2
                continue
            line = sys.stdin.readline() if not sys.stdin.isatty() else ""
            if not line:
                fail("EOF while reading password")
            password = line.rstrip("\n")
            i += 1
            continue
        if tok.startswith(("--password=", "-password=")):
            password = tok.split("=", 1)[1]
            i += 1
            continue
        out.append(tok)
        i += 1
    return out, password


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("help", "-h", "--help"):
        print("USAGE: pvesm <add|set|remove|status> ...")
        return 0
    sub, rest = argv[0], argv[1:]
    with node_context(["pvesm", *argv]) as ctx:
        rest, password = _password(rest) if sub in ("add", "create", "set") else (rest, None)
        args = parse_args(rest, FLAGS)
        params = options_as_params(args)
        if password is not None:
            params["password"] = password
        for name in FILE_OPTIONS:
            path = params.get(name)
            if path is None or (name == "encryption-key" and path == "autogen"):
                continue
            content = _file(str(path))
            params[name] = base64.b64encode(content.encode()).decode() if name == "master-pubkey" else content
        if sub in ("add", "create"):
            params.update(type=args.pos(0, "type"), storage=args.pos(1, "storage"))
            call(ctx, "POST", "/storage", params)
            return 0
        if sub == "set":
            call(ctx, "PUT", f"/storage/{args.pos(0, 'storage')}", params)
            return 0
        if sub in ("remove", "delete"):
            call(ctx, "DELETE", f"/storage/{args.pos(0, 'storage')}", {})
            return 0
        if sub == "status":
            rows = call(ctx, "GET", "/cluster/resources", {"type": "storage"})
            print(f"{'Name':<16} {'Type':<8} {'Status':<10} {'Total':>14} {'Used':>14} {'Available':>14} {'%':>7}")
            for r in rows:
                if r["node"] != ctx.node:
                    continue
                if params.get("storage") and r["storage"] != params["storage"]:
                    continue
                total, used = r["maxdisk"] // 1024, r["disk"] // 1024
                pct = 100.0 * used / total if total else 0.0
                status = "active" if r["status"] == "available" else "inactive"
                print(f"{r['storage']:<16} {r['plugintype']:<8} {status:<10} {total:>14} {used:>14} "
                      f"{total - used:>14} {pct:>6.2f}%")
            return 0
        fail(f"unknown command 'pvesm {sub}'")
