"""The drill's evidence: what was predicted, what happened, when, and the verdict.

One dataclass, three views (text for a terminal, Markdown for a ticket or PR, JSON for
tooling), like every other report of pve-provision: the JSON is the source, versioned
with ``format``/``format_version``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FORMAT", "FORMAT_VERSION", "DrillReport", "ServiceResult", "Verdict", "render"]

FORMAT = "pve-provision-drill"
FORMAT_VERSION = 1

Verdict = Literal["passed", "failed", "refused", "interrupted", "timeout"]


@dataclass
class ServiceResult:
    """One HA service through the drill: node before, during maintenance, after it."""

    sid: str
    before: str
    predicted: str
    actual: str | None = None
    moved_after_s: float | None = None
    predicted_back: str = ""
    actual_back: str | None = None
    back_after_s: float | None = None
    reason: str = ""

    @property
    def matched(self) -> bool:
        return self.actual == self.predicted and self.actual_back == self.predicted_back

    def as_json(self) -> dict[str, Any]:
        return {"sid": self.sid, "before": self.before, "predicted": self.predicted, "actual": self.actual,
                "moved_after_s": _round(self.moved_after_s), "predicted_back": self.predicted_back,
                "actual_back": self.actual_back, "back_after_s": _round(self.back_after_s),
                "matched": self.matched, "reason": self.reason}


@dataclass
class DrillReport:
    cluster: str
    node: str
    source: str
    started: str
    verdict: Verdict = "failed"
    finished: str = ""
    timeline: list[tuple[str, str]] = field(default_factory=list)  # (ISO time, what happened)
    services: list[ServiceResult] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)  # maintenance / failback seconds
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "passed" else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "cluster": self.cluster, "node": self.node, "source": self.source,
            "started": self.started, "finished": self.finished, "verdict": self.verdict,
            "timeline": [{"at": at, "event": what} for at, what in self.timeline],
            "durations_s": {k: _round(v) for k, v in self.durations.items()},
            "services": [s.as_json() for s in self.services],
            "moves": sum(1 for s in self.services if s.predicted != s.before),
            "matched": sum(1 for s in self.services if s.matched),
            "problems": self.problems, "notes": self.notes,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _node(value: str | None) -> str:
    return value or "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render(report: DrillReport, fmt: str) -> str:
    """``text``, ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(report.as_json(), indent=2) + "\n"
    md = fmt == "markdown"
    out: list[str] = []
    title = f"Failover drill: {report.cluster}, node {report.node} - {report.verdict.upper()}"
    out += [f"# {title}", ""] if md else [title, ""]
    out.append(f"{'- ' if md else ''}source: {report.source}")
    out.append(f"{'- ' if md else ''}started: {report.started}, finished: {report.finished}")
    for name, secs in report.durations.items():
        out.append(f"{'- ' if md else ''}{name}: {secs:.1f} s")
    out.append("")
    if report.services:
        head = ["service", "before", "predicted", "actual", "moved after", "back (predicted)", "back (actual)",
                "back after", "match"]
        rows = [[s.sid, s.before, s.predicted, _node(s.actual), _seconds(s.moved_after_s), s.predicted_back or "-",
                 _node(s.actual_back), _seconds(s.back_after_s), "yes" if s.matched else "NO"]
                for s in report.services]
        out += _table(head, rows, md)
        out.append("")
    if report.timeline:
        out += ["## Timeline", ""] if md else ["timeline:"]
        out += [f"{'- ' if md else '  '}{at}  {what}" for at, what in report.timeline]
        out.append("")
    if report.problems:
        out += ["## Problems", ""] if md else ["problems:"]
        out += [f"{'- ' if md else '  '}{p}" for p in report.problems]
        out.append("")
    if report.notes:
        out += ["## Notes", ""] if md else ["notes:"]
        out += [f"{'- ' if md else '  '}{n}" for n in report.notes]
        out.append("")
    return "\n".join(out)


def _table(head: list[str], rows: list[list[str]], md: bool) -> list[str]:
    if md:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                *("| " + " | ".join(r) + " |" for r in rows)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
