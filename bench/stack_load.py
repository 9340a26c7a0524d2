"""How long reading the largest stack takes: libyaml's plain-data path (what a stack
without findings is read with), its tree with positions (composed only for a finding),
ruamel's round-trip loader, and the whole `load_stack` (parse, validate, cross-check).

    .venv/bin/python bench/stack_load.py        # JSON on stdout, with the load average
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from big_stack import big_stack

from provision.spec.fastcompose import compose_fast, load_fast
from provision.spec.loader import load_stack
from provision.spec.yamlread import stack_yaml


def _median(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def main() -> None:
    text = big_stack()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(text)
        result = {
            "stack_bytes": len(text.encode()),
            "plain_fast_s": _median(lambda: load_fast(text), 5),
            "fast_compose_s": _median(lambda: compose_fast(text), 5),
            "ruamel_roundtrip_s": _median(lambda: stack_yaml().load(text), 1),
            "load_stack_s": _median(lambda: load_stack(path), 5),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
