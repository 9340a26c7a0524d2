"""``pvesh get|create|set|delete|ls <api_path> [--param v] [--output-format ...]``.

Calls the handler registry directly (as root, no HTTP). ``--output-format json`` prints
only the data payload, canonical (sorted keys), one line.
"""

from __future__ import annotations

import sys
from typing import Any

from provision.lab.cli.common import Args, fail, node_context, options_as_params, parse_args, print_json, print_task_log
from provision.lab.registry import call, resolve, routes, unwrap

VERBS = {"get": "GET", "create": "POST", "set": "PUT", "delete": "DELETE"}
FORMATS = ("text", "json", "json-pretty", "yaml")
FLAGS = frozenset({"noproxy", "quiet", "human-readable", "noborder", "noheader"})


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("help", "-h", "--help"):
        print("USAGE: pvesh <get|create|set|delete|ls|usage> <api_path> [OPTIONS] [FORMAT_OPTIONS]")
        return 0
    verb = argv[0]
    if verb not in (*VERBS, "ls", "usage"):
        fail(f"unknown command 'pvesh {verb}'")
    args = parse_args(argv[1:], FLAGS)
    path = "/" + args.pos(0, "api_path").strip("/")
    fmt = args.pop("output-format", "text") or "text"
    if fmt not in FORMATS:
        fail(f"400 Parameter verification failed.\noutput-format: value '{fmt}' does not have a value in the "
             f"enumeration '{', '.join(FORMATS)}'")
    quiet = args.pop("quiet") == "1"
    for drop in ("noproxy", "human-readable", "noborder", "noheader"):
        args.pop(drop)
    with node_context(["pvesh", *argv]) as ctx:
        if verb == "ls":
            return _ls(ctx.pve_version, path)
        if verb == "usage":
            route, _ = resolve(args.pop("command", "GET") or "GET", path, ctx.pve_version)
            print(f"USAGE: pvesh {verb} {route.template}")
            return 0
        result = call(ctx, VERBS[verb], path, options_as_params(args))
        data, _extra = unwrap(result)
        if quiet:
            return 0
        print_task_log(ctx, data, sys.stdout if fmt == "text" else sys.stderr)
        _print(data, fmt)
    return 0


def _ls(pve: int, path: str) -> int:
    prefix = path.rstrip("/") + "/"
    children: set[str] = set()
    for r in routes():
        if pve not in r.pve or not r.template.startswith(prefix):
            continue
        children.add(r.template[len(prefix):].split("/", 1)[0])
    for c in sorted(children):
        print(f"Dr--d        {c}")
    return 0


def _print(data: Any, fmt: str) -> None:
    if fmt == "json":
        print_json(data)
    elif fmt == "json-pretty":
        print_json(data, pretty=True)
    elif fmt == "yaml":
        from ruamel.yaml import YAML

        YAML().dump(data, sys.stdout)
    elif data is None:
        return
    elif isinstance(data, (str, int, float)):
        print(data)
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        _table(data)
    elif isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for k in sorted(data):
            print(f"{k:<{width}} {_scalar(data[k])}")
    else:
        print_json(data)


def _scalar(v: Any) -> str:
    if isinstance(v, (dict, list)):
        import json

        return json.dumps(v, sort_keys=True)
    return str(v)


def _table(rows: list[dict[str, Any]]) -> None:
    cols = sorted({k for r in rows for k in r})
    widths = {c: max(len(c), *(len(_scalar(r.get(c, ""))) for r in rows)) for c in cols}
    print(" ".join(f"{c:<{widths[c]}}" for c in cols).rstrip())
    for r in rows:
        print(" ".join(f"{_scalar(r.get(c, '')):<{widths[c]}}" for c in cols).rstrip())


__all__ = ["Args", "main"]
