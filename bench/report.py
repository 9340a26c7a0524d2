"""bench/scale.py's results as JSON, a Markdown table and a PNG plot.

The table is what an issue's closing note quotes, so every time carries the load
average it was measured under (``1.23 s @2.1``) and both ratios are shown: against
the lab, whose own CPU per request slows the baseline more than discovery, and
against the replay server, where only the clients and the latency count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _t(fig: dict[str, float]) -> str:
    """A time with its load average."""
    return f"{fig['value']:.2f} s @{fig['load']:.1f}"


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    out = [
        f"Latency {result['latency_ms']:g} ms per request, median of {result['runs']} run(s), "
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
        out.append(
            f"| {r['size']} | {r['objects']:,} | {lab['cli_requests']} / {lab['refresh_requests']:,} "
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
    ax_t.set_ylabel("seconds (median)")
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


if __name__ == "__main__":
    import sys

    source = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/scale.json")
    data = json.loads(source.read_text())
    for p in write_all(data, source.parent, source.stem):
        print(f"wrote {p}")
