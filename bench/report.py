"""bench/scale.py's results as JSON, a Markdown table and a PNG plot.

The table is what an issue's closing note quotes, so every time carries the load
average it was measured under (``1.23 s @2.1``) and both ratios are shown: against
the lab, whose own CPU per request slows the baseline more than discovery, and
against the replay server, where only the clients and the latency count.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def _t(fig: dict[str, float]) -> str:
    """A time with its load average."""
    return f"{fig['value']:.2f} s @{fig['load']:.1f}"


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    out = [
        f"Latency {result['latency_ms']:g} ms per request, median of {result['runs']} run(s) unless the row "
        "says otherwise, "
        f"{result['cpus']} CPUs; `@x` is the 1-minute load average when the figure was taken. "
        f"Finished {result['finished_at']}.",
        "",
        "| cluster | objects | requests: plan / refresh (ratio) | `provision plan` lab / replay "
        "| discovery + plan lab / replay | refresh lab / replay | ratio vs lab: CLI, in-process "
        "| ratio vs replay: CLI, in-process |",
        "| --- | ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lab, rep = r["lab"], r["replay"]
        runs = "" if r["runs"] == result["runs"] else f" ({r['runs']} run{'s' if r['runs'] > 1 else ''})"
        out.append(
            f"| {r['size']}{runs} | {r['objects']:,} | {lab['cli_requests']} / {lab['refresh_requests']:,} "
            f"({lab['requests_ratio']:g}x) | {_t(lab['cli_plan_s'])} / {_t(rep['cli_plan_s'])} "
            f"| {_t(lab['discover_plan_s'])} / {_t(rep['discover_plan_s'])} "
            f"| {_t(lab['refresh_s'])} / {_t(rep['refresh_s'])} "
            f"| {lab['time_ratio_cli']:g}x, {lab['time_ratio_discover_plan']:g}x "
            f"| {rep['time_ratio_cli']:g}x, {rep['time_ratio_discover_plan']:g}x |")
    out += [
        "",
        "| cluster | stack | `lab up --from` | lab CPU / request | lab idle CPU | plan peak RSS "
        "| plan with K changes | replay misses | refresh failures |",
        "| --- | ---: | --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    for r in rows:
        ch = r["changed"]
        rss = r["lab"]["cli_peak_rss_mib"]
        out.append(
            f"| {r['size']} | {r['stack_bytes'] / 1024:.0f} kB | {r['lab_seed_s']['value']:.1f} s "
            f"@{r['lab_seed_s']['load']:.1f} | {r['lab_cpu_ms_per_request']['value']:.1f} ms "
            f"@{r['lab_cpu_ms_per_request']['load']:.1f} | {r['lab_idle_cpu']['value'] * 100:.0f}% of a core "
            f"| {rss['value']:.0f} MiB | K={ch['changes']}: {ch['actions']} actions, {_t(ch['cli_plan_s'])} "
            f"| {r['replay_misses']} | {r['lab']['refresh_failed']} |")
    return "\n".join(out) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    """Plan time and requests vs cluster size, pve-provision against the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    x = [r["objects"] for r in rows]
    fig, (ax_t, ax_r) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = [
        ("lab", "cli_plan_s", "provision plan (CLI), lab", "C0", "-"),
        ("replay", "cli_plan_s", "provision plan (CLI), replay", "C0", "--"),
        ("lab", "discover_plan_s", "discovery + plan, lab", "C2", "-"),
        ("replay", "discover_plan_s", "discovery + plan, replay", "C2", "--"),
        ("lab", "refresh_s", "per-object refresh, lab", "C3", "-"),
        ("replay", "refresh_s", "per-object refresh, replay", "C3", "--"),
    ]
    for where, key, label, colour, style in series:
        ax_t.plot(x, [r[where][key]["value"] for r in rows], style, color=colour, marker="o", label=label)
    ax_t.set_xlabel("managed objects")
    ax_t.set_yscale("log")
    ax_t.set_ylabel("seconds (median, log scale)")
    ax_t.set_title(f"Plan time at {result['latency_ms']:g} ms latency")
    ax_t.legend(fontsize=8)
    ax_r.plot(x, [r["lab"]["cli_requests"] for r in rows], "-o", color="C0", label="provision plan")
    ax_r.plot(x, [r["lab"]["refresh_requests"] for r in rows], "-o", color="C3", label="per-object refresh")
    ax_r.set_yscale("log")
    ax_r.set_xlabel("managed objects")
    ax_r.set_ylabel("HTTP requests")
    ax_r.set_title("Requests per plan")
    ax_r.legend(fontsize=8)
    for r, xi in zip(rows, x, strict=True):
        ax_r.annotate(f"{r['nodes']} nodes", (xi, r["lab"]["cli_requests"]), textcoords="offset points",
                      xytext=(0, 6), fontsize=7, ha="center")
    loads = ", ".join(f"{r['lab']['cli_plan_s']['load']:.1f}" for r in rows)
    fig.suptitle(f"pve-provision vs per-object refresh ({result['cpus']} CPUs, load {loads})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_all(result: dict[str, Any], out: Path, stem: str) -> list[Path]:
    paths = [out / f"{stem}.json", out / f"{stem}.md", out / f"{stem}.png"]
    paths[0].write_text(json.dumps(result, indent=2) + "\n")
    paths[1].write_text(markdown(result))
    plot(result, paths[2])
    return paths


def merge(sources: list[Path]) -> dict[str, Any]:
    """Rows of several runs of bench/scale.py (JSON results, or the JSON lines it logs on
    stderr as each size finishes) as one result, sorted by size; the run count most rows
    used is the table's."""
    rows: list[dict[str, Any]] = []
    head: dict[str, Any] = {}
    for src in sources:
        text = src.read_text()
        try:
            doc = json.loads(text)
            head = head or {k: v for k, v in doc.items() if k != "rows"}
            rows += doc["rows"]
        except ValueError:  # a log: one JSON row per finished size among progress lines
            rows += [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    rows.sort(key=lambda r: r["objects"])
    counts = [r["runs"] for r in rows]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {**head, "latency_ms": rows[0]["latency_ms"], "runs": max(set(counts), key=counts.count),
            "rows": rows, "finished_at": head.get("finished_at") or now, "cpus": head.get("cpus", os.cpu_count())}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Table and plot again from bench/scale.py's JSON (or several).")
    parser.add_argument("sources", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, help="directory (default: the first source's)")
    args = parser.parse_args()
    out = args.out or args.sources[0].parent
    for p in write_all(merge(args.sources), out, "scale"):
        print(f"wrote {p}")
