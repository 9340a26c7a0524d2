#!/usr/bin/env python3
"""Time every broken or hostile stack through `load_stack`; count tracebacks and hangs.

Inputs: the committed corpus (tests/spec/corpus, over 400 files), the large hostile
inputs that are too big to commit (generated here into a temp dir: 200,000 nodes,
a 3-million-item list, alias bombs, 10,000-deep nesting, an 8 MiB+ file, a FIFO, a
symlink to /dev/zero) and the largest realistic stack (32 nodes, 384 OSDs, 2,000 HA
resources and guests), which must load. Each input runs in a child process with a
2 GiB address-space limit and a 20 s alarm, so a hang or a memory blow-up is
measured instead of taking the machine down.

    .venv/bin/python bench/hostile_specs.py            # this checkout
    .venv/bin/python bench/hostile_specs.py --rev REV  # another revision, for before/after
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANG_SECONDS = 20

CHILD = r"""
import json, resource, signal, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
sys.setrecursionlimit(1000)
from provision.spec import SpecError, load_stack
class Hang(BaseException):
    pass
def alarm(*_):
    raise Hang()
signal.signal(signal.SIGALRM, alarm)
for path in json.loads(sys.stdin.read()):
    start = time.perf_counter()
    signal.alarm(HANG)
    try:
        load_stack(path)
        outcome = "accepted"
    except SpecError as exc:
        outcome = "refused"
    except Hang:
        outcome = "hang"
    except BaseException as exc:
        outcome = "traceback:" + type(exc).__name__
    finally:
        signal.alarm(0)
    print(json.dumps({"path": path, "outcome": outcome, "seconds": round(time.perf_counter() - start, 3)}),
          flush=True)
""".replace("HANG", str(HANG_SECONDS))


def big_inputs(tmp: Path) -> list[Path]:
    """Hostile inputs too large to commit, plus the largest realistic stack."""
    sys.path.insert(0, str(ROOT / "bench"))
    from big_stack import big_stack

    out: list[Path] = []

    def write(name: str, text: str) -> None:
        path = tmp / name
        path.write_text(text, encoding="utf-8")
        out.append(path)

    write("nodes-200k.yaml", "x:\n" + "".join(f"  - {{a: {i}}}\n" for i in range(100_000)))
    write("list-3m.yaml", "x: [" + ",".join("1" for _ in range(3_000_000)) + "]\n")
    laughs = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    laughs += [f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, 12)]
    write("alias-bomb-12.yaml", "\n".join(laughs) + "\n")
    write("deep-10k.yaml", "x: " + "[" * 10_000 + "]" * 10_000 + "\n")
    write("deep-block-300.yaml", "".join("  " * k + f"k{k}:\n" for k in range(300)) + "  " * 300 + "1\n")
    write("over-8mib.yaml", "x: '" + "a" * (8 * 1024 * 1024) + "'\n")
    write("big-int.yaml", "name: t\npve_version: " + "9" * 5000 + "\n")
    fifo = tmp / "fifo.yaml"
    os.mkfifo(fifo)
    out.append(fifo)
    zero = tmp / "zero.yaml"
    zero.symlink_to("/dev/zero")
    out.append(zero)
    write("realistic-largest.yaml", big_stack())
    return out


def checkout(rev: str, into: Path) -> Path:
    """`provision/` of `rev`, extracted with git archive, to import instead of this checkout."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "provision"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="measure the loader of this git revision instead of the checkout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        paths = sorted(str(p) for p in (ROOT / "tests" / "spec" / "corpus").glob("*.yaml"))
        big_dir = tmp / "big"
        big_dir.mkdir()
        paths += [str(p) for p in big_inputs(big_dir)]
        env = dict(os.environ)
        env.pop("PROVISION_SECRETS_DIR", None)
        if args.rev:
            env["PYTHONPATH"] = str(checkout(args.rev, tmp))
        results: list[dict[str, object]] = []
        remaining = list(paths)
        while remaining:  # a child that dies (MemoryError in C, a crash) is restarted after that input
            proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(remaining), capture_output=True,
                                  text=True, env=env, cwd=tmp, timeout=HANG_SECONDS * len(remaining) + 60,
                                  check=False)
            done = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
            results += done
            remaining = remaining[len(done):]
            if remaining and proc.returncode != 0:
                results.append({"path": remaining[0], "outcome": f"crash:rc={proc.returncode}", "seconds": None})
                remaining = remaining[1:]
    realistic = [r for r in results if str(r["path"]).endswith("realistic-largest.yaml")]
    hostile = [r for r in results if r not in realistic]
    bad = [r for r in hostile if str(r["outcome"]).startswith(("traceback", "hang", "crash"))]
    accepted = [r for r in hostile if r["outcome"] == "accepted"]
    timed = [float(str(r["seconds"])) for r in hostile if r["seconds"] is not None]
    print(f"inputs: {len(hostile)} broken/hostile + 1 realistic ({'rev ' + args.rev if args.rev else 'checkout'})")
    print(f"refused with a diagnostic: {sum(r['outcome'] == 'refused' for r in hostile)}")
    print(f"accepted although broken: {len(accepted)}")
    print(f"tracebacks/crashes: {sum(str(r['outcome']).startswith(('traceback', 'crash')) for r in hostile)}")
    print(f"hangs (> {HANG_SECONDS} s): {sum(r['outcome'] == 'hang' for r in hostile)}")
    print(f"slowest hostile input: {max(timed):.2f} s; total {sum(timed):.1f} s")
    def slowness(r: dict[str, object]) -> float:
        return float(str(r["seconds"])) if r["seconds"] is not None else float(HANG_SECONDS)

    for r in sorted(hostile, key=slowness, reverse=True)[:5]:
        print(f"  {r['seconds']} s  {r['outcome']:<12} {Path(str(r['path'])).name}")
    for r in bad + accepted:
        print(f"  {r['outcome']:<28} {Path(str(r['path'])).name}")
    for r in realistic:
        print(f"realistic largest stack (32 nodes, 384 OSDs, 2,000 HA resources): {r['outcome']} in {r['seconds']} s")


if __name__ == "__main__":
    main()
