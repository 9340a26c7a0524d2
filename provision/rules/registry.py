"""The rule registry: every best-practice check is a small function registered
under a stable id.

Ids never change meaning once published: CI pipelines pass them to `--disable`,
SARIF consumers key alerts on them and `docs/rules.md` links to them. A rule's
docstring is its documentation (why it matters, then a `Fix:` paragraph), so the
catalogue, the Markdown page and SARIF's help text come from one place.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from provision.spec import Cluster

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
Loc = tuple[str | int, ...]

_ID = re.compile(r"^PVE-(Q|N|C|CEPH|S|HA|B)\d{3}$")

#: Id prefix → the area a rule checks, in the order the catalogue lists them.
AREAS: dict[str, str] = {
    "Q": "Quorum",
    "N": "Network",
    "C": "Corosync",
    "CEPH": "Ceph",
    "S": "Storage",
    "HA": "High availability",
    "B": "Backups and alerts",
}


@dataclass(frozen=True)
class Hit:
    """What a check yields: where in the spec, what is wrong and how to fix it."""

    loc: Loc
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class Finding:
    """A hit stamped with its rule's id and severity, ready to print."""

    rule_id: str
    severity: Severity
    loc: Loc
    message: str
    hint: str | None = None


Check = Callable[[Cluster], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    """One registered check."""

    id: str
    severity: Severity
    title: str
    check: Check

    @property
    def area(self) -> str:
        prefix = self.id.split("-", 1)[1].rstrip("0123456789")
        return AREAS[prefix]

    @property
    def doc(self) -> str:
        """The check's docstring, dedented."""
        return inspect.getdoc(self.check) or ""

    @property
    def why(self) -> str:
        """The docstring up to the `Fix:` paragraph."""
        return self.doc.split("\nFix:", 1)[0].strip()

    @property
    def fix(self) -> str:
        """The `Fix:` paragraph of the docstring (without the label)."""
        parts = self.doc.split("\nFix:", 1)
        return parts[1].strip() if len(parts) == 2 else ""

    def run(self, cluster: Cluster) -> list[Finding]:
        return [Finding(self.id, self.severity, h.loc, h.message, h.hint) for h in self.check(cluster)]


_RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity, title: str) -> Callable[[Check], Check]:
    """Register the decorated function as rule `rule_id`."""
    if not _ID.match(rule_id):
        raise ValueError(f"bad rule id {rule_id!r} (expected e.g. PVE-Q001, PVE-CEPH003)")
    if severity not in SEVERITIES:
        raise ValueError(f"bad severity {severity!r}")

    def register(func: Check) -> Check:
        if rule_id in _RULES:
            raise ValueError(f"rule id {rule_id} registered twice")
        _RULES[rule_id] = Rule(rule_id, severity, title, func)
        return func

    return register


def _order(rule_id: str) -> tuple[int, int]:
    prefix, number = re.match(r"PVE-([A-Z]+)(\d+)", rule_id).groups()  # type: ignore[union-attr]
    return (list(AREAS).index(prefix), int(number))


def all_rules() -> list[Rule]:
    """Every registered rule, by area then number."""
    return sorted(_RULES.values(), key=lambda r: _order(r.id))


def get_rule(rule_id: str) -> Rule | None:
    return _RULES.get(rule_id)


def run(cluster: Cluster, disable: Iterable[str] = ()) -> list[Finding]:
    """Run every rule not in `disable` over `cluster`. Unknown ids in `disable` raise
    ValueError, so a typo in a CI pipeline does not silently keep a rule on."""
    disabled = set(disable)
    unknown = sorted(disabled - set(_RULES))
    if unknown:
        raise ValueError(f"unknown rule id(s): {', '.join(unknown)}")
    findings: list[Finding] = []
    for r in all_rules():
        if r.id not in disabled:
            findings.extend(r.run(cluster))
    return findings
