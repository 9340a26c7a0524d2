"""The ``ceph`` client commands Ansible roles use: ``-s``, ``health``, ``osd in/out``, ``osd ok-to-stop``,
``osd safe-to-destroy``, ``osd pool ls``, ``fs ls``, ``fs fail``. Errors exit like the real client
(librados errno codes).

Under ``lab up --real-ceph`` every command but ``osd in``/``osd out`` (which the lab records, and
its hand-over passes on) is the real ``ceph`` client, run in the node's namespace."""

from __future__ import annotations

import json
import sys

from provision.lab import real
from provision.lab.cli.common import CliError, fail, node_context
from provision.lab.ops import ceph
from provision.lab.real import ceph as real_ceph
from provision.lab.registry import ApiError, Ctx

EINVAL = 22
ETIMEDOUT = 110


def main(argv: list[str]) -> int:
    fmt = "plain"
    words: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-f", "--format") and i + 1 < len(argv):
            fmt = argv[i + 1]
            i += 2
            continue
        if a.startswith("--format="):
            fmt = a.split("=", 1)[1]
        elif a in ("-s", "--status"):
            words.append("status")
        elif a.startswith("-"):
            pass  # --cluster, --id, -c: one cluster only
        else:
            words.append(a)
        i += 1
    with node_context(["ceph", *argv]) as ctx:
        if not (len(words) == 3 and words[:2] in (["osd", "out"], ["osd", "in"])):  # in/out: the lab's records
            done = real_ceph.node_client(ctx.store, ctx.paths.root, ctx.node, argv) if real.enabled(
                ctx.paths.root) else None
            if done is not None:  # a --real-ceph lab: the node's ceph is the real client
                sys.stdout.write(done.stdout)
                sys.stderr.write(done.stderr)
                return done.returncode
        try:
            return _run(ctx, words, fmt.startswith("json"))
        except ApiError as exc:
            if "not initialized" in exc.message or "No such file" in exc.message:
                fail("Error initializing cluster client: ObjectNotFound('RADOS object not found (error calling "
                     "conf_read_file)')", 1)
            if exc.message == "got timeout":
                fail("[errno 110] RADOS timed out (error connecting to the cluster)", 1)
            raise CliError(f"Error EINVAL: {exc.message}", EINVAL) from None


def _run(ctx: Ctx, words: list[str], as_json: bool) -> int:
    ceph._require_rados(ctx)
    if words in (["status"], ["health"]):
        data = ceph.ceph_status(ctx)
        if words == ["health"]:
            h = data["health"]
            if as_json:
                print(json.dumps(h))
            else:
                print(h["status"] + "".join(f"; {c['summary']['message']}" for c in h["checks"].values()))
            return 0
        if as_json:
            print(json.dumps(data))
        else:
            print(f"  cluster:\n    id:     {data['fsid']}\n    health: {data['health']['status']}\n\n  services:\n"
                  f"    mon: {data['monmap']['num_mons']} daemons, quorum {','.join(data['quorum_names'])}\n"
                  f"    osd: {data['osdmap']['num_osds']} osds: {data['osdmap']['num_up_osds']} up, "
                  f"{data['osdmap']['num_in_osds']} in\n")
        return 0
    if len(words) == 3 and words[:2] in (["osd", "out"], ["osd", "in"]):
        if not words[2].isdigit():
            fail(f"Error EINVAL: invalid osd id '{words[2]}'", EINVAL)
        osd = int(words[2])
        if ctx.store.one("SELECT 1 FROM ceph_osds WHERE id = ?", (osd,)) is None:
            fail(f"Error ENOENT: osd.{osd} does not exist", 2)
        ceph.set_osd(ctx, osd, in_=words[1] == "in")
        print(f"marked {words[1]} osd.{osd}. ", file=__import__("sys").stderr)
        return 0
    if len(words) == 3 and words[:2] in (["osd", "ok-to-stop"], ["osd", "safe-to-destroy"]):
        ident = words[2].removeprefix("osd.")
        if not ident.isdigit():
            fail(f"Error EINVAL: invalid osd id '{words[2]}'", EINVAL)
        rc, message = ceph.osd_safety(ctx, int(ident), "stop" if words[1] == "ok-to-stop" else "destroy")
        if rc:
            fail(f"Error {'EBUSY' if rc == 16 else 'ENOENT'}: {message}", rc)
        print(message, file=__import__("sys").stderr)
        return 0
    if words[:3] == ["osd", "pool", "ls"]:
        names = [r["name"] for r in ctx.store.query("SELECT name FROM ceph_pools ORDER BY id")]
        print(json.dumps(names) if as_json else "\n".join(names))
        return 0
    if len(words) == 3 and words[:2] == ["fs", "fail"]:
        try:
            message = ceph.fs_fail(ctx, words[2])
        except ApiError as exc:
            fail(f"Error ENOENT: {exc.message}", 2)
        print(message, file=__import__("sys").stderr)
        return 0
    if words[:2] == ["fs", "ls"]:
        fss = [{"name": f["name"], "metadata_pool": f["metadata_pool"], "data_pools": [f["data_pool"]]}
               for f in ctx.store.query("SELECT * FROM ceph_fs ORDER BY name")]
        if as_json:
            print(json.dumps(fss))
        elif not fss:
            print("No filesystems enabled")
        else:
            for f in fss:
                print(f"name: {f['name']}, metadata pool: {f['metadata_pool']}, data pools: [{f['data_pools'][0]} ]")
        return 0
    fail(f"no valid command found; 10 closest matches:\n{' '.join(words)}", EINVAL)
