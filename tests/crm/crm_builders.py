"""Terse builders for CRM test data: ``nodes("node1", "node2", down={"node2"})``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from provision.crm import (
    CrsMode,
    HAConfig,
    NodeAffinityRule,
    NodeInfo,
    ResourceAffinityRule,
    Service,
    pending_moves,
)


def nodes(
    *names: str,
    down: Iterable[str] = (),
    maintenance: Iterable[str] = (),
) -> list[NodeInfo]:
    down, maintenance = set(down), set(maintenance)
    return [NodeInfo(n, online=n not in down, maintenance=n in maintenance) for n in names]


def on(node: str, *sids: str, **kw: object) -> list[Service]:
    """Services ``sids`` running on ``node`` (extra fields, e.g. ``state="stopped"``)."""
    return [Service(sid, node, **kw) for sid in sids]  # type: ignore[arg-type]


def node_affinity(name: str, sids: Iterable[str], prio: Mapping[str, int], strict: bool = False) -> NodeAffinityRule:
    return NodeAffinityRule(name, frozenset(sids), dict(prio), strict=strict)


def together(name: str, *sids: str) -> ResourceAffinityRule:
    return ResourceAffinityRule(name, frozenset(sids), "positive")


def apart(name: str, *sids: str) -> ResourceAffinityRule:
    return ResourceAffinityRule(name, frozenset(sids), "negative")


def rules(*r: NodeAffinityRule | ResourceAffinityRule) -> HAConfig:
    return HAConfig(rules=r)


def settle(
    services: Sequence[Service],
    cluster: Sequence[NodeInfo],
    config: HAConfig | None = None,
    crs: CrsMode = "basic",
    rounds: int = 10,
) -> list[list[tuple[str, str]]]:
    """Run CRM rounds, letting every started move finish before the next round.

    Returns the moves of each round until a round starts none (that empty round is not
    included), so a test can compare with the order of ``migrate``/``relocate`` lines in
    an upstream ``log.expect``.
    """
    history: list[list[tuple[str, str]]] = []
    current = list(services)
    for _ in range(rounds):
        moves = pending_moves(current, cluster, config, crs)
        if not moves:
            return history
        history.append([(m.sid, m.target) for m in moves])
        done = {m.sid: m for m in moves}
        current = [
            replace(s, node=done[s.sid].target, maintenance_node=done[s.sid].maintenance_node) if s.sid in done else s
            for s in current
        ]
    raise AssertionError(f"no steady state after {rounds} rounds: {history}")
