"""Invariants of HA placement over random clusters, services, groups and rules."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from provision.crm import (
    CrsMode,
    Group,
    HAConfig,
    NodeAffinityRule,
    NodeInfo,
    ResourceAffinityRule,
    Service,
    allowed_nodes,
    compile_rules,
    explain_service_node,
    pending_moves,
    recover,
)

NODE_NAMES = ["pve1", "pve2", "pve3", "pve4", "pve5"]


@dataclass(frozen=True)
class World:
    nodes: list[NodeInfo]
    services: list[Service]
    config: HAConfig

    @property
    def schedulable(self) -> set[str]:
        return {n.name for n in self.nodes if n.schedulable}

    def allowed(self, svc: Service) -> set[str]:
        return set(allowed_nodes(svc, self.nodes, self.config, self.services))


@st.composite
def worlds(draw: st.DrawFn, resource_affinity: bool = True) -> World:
    count = draw(st.integers(min_value=1, max_value=len(NODE_NAMES)))
    names = NODE_NAMES[:count]
    nodes = [
        NodeInfo(
            name,
            online=draw(st.booleans()),
            maintenance=draw(st.integers(0, 5)) == 0,
            memory_mib=draw(st.sampled_from([0, 16_000, 64_000, 256_000])),
            cores=draw(st.sampled_from([0, 8, 32])),
        )
        for name in names
    ]
    node_set = st.dictionaries(st.sampled_from(names), st.integers(0, 3), min_size=1, max_size=count)
    groups = draw(
        st.lists(
            st.builds(
                Group,
                name=st.sampled_from(["g1", "g2", "g3"]),
                nodes=node_set,
                restricted=st.booleans(),
                nofailback=st.booleans(),
            ),
            max_size=3,
            unique_by=lambda g: g.name,
        )
    )
    sids = draw(
        st.lists(st.sampled_from([f"vm:{i}" for i in range(100, 112)] + ["ct:200", "ct:201"]), max_size=10, unique=True)
    )
    services = [
        Service(
            sid,
            draw(st.sampled_from(names)),
            draw(st.sampled_from(["started", "started", "stopped", "disabled", "ignored"])),
            group=draw(st.none() | st.sampled_from(["g1", "g2", "g3"])),
            failback=draw(st.booleans()),
            memory_mib=draw(st.sampled_from([0, 1_000, 8_000, 32_000])),
            cores=draw(st.sampled_from([0, 1, 2, 0.5])),
        )
        for sid in sids
    ]
    rules: list[NodeAffinityRule | ResourceAffinityRule] = []
    if sids:
        some = st.frozensets(st.sampled_from(sids), min_size=1, max_size=4)
        rules += draw(
            st.lists(
                st.builds(
                    NodeAffinityRule,
                    name=st.sampled_from(["na1", "na2", "na3"]),
                    resources=some,
                    nodes=node_set,
                    strict=st.booleans(),
                    disabled=st.booleans(),
                ),
                max_size=3,
                unique_by=lambda r: r.name,
            )
        )
        if resource_affinity:
            rules += draw(
                st.lists(
                    st.builds(
                        ResourceAffinityRule,
                        name=st.sampled_from(["ra1", "ra2", "ra3"]),
                        resources=some,
                        affinity=st.sampled_from(["positive", "negative"]),
                    ),
                    max_size=3,
                    unique_by=lambda r: r.name,
                )
            )
    return World(nodes, services, HAConfig(groups=groups, rules=rules))


@settings(max_examples=100, deadline=None)
@given(worlds(), st.data())
def test_a_placed_service_lands_on_an_online_allowed_node(world: World, data: st.DataObject) -> None:
    if not world.services:
        return
    svc = data.draw(st.sampled_from(world.services))
    try_next, best_score = data.draw(st.sampled_from([(False, False), (False, True), (True, False)]))
    tried = data.draw(st.lists(st.sampled_from([n.name for n in world.nodes]), max_size=3))
    crs: CrsMode = data.draw(st.sampled_from(["basic", "static"]))
    placement = explain_service_node(
        svc, world.nodes, world.services, world.config, crs, try_next, tried, best_score=best_score
    )
    assert placement.reason
    if placement.node is not None:
        assert placement.node in world.schedulable
        assert placement.node in world.allowed(svc)
        if try_next and placement.node != svc.node:
            assert placement.node not in tried


@settings(max_examples=100, deadline=None)
@given(worlds(), st.sampled_from(["basic", "static"]))
def test_recovery_places_only_fenced_services_on_online_allowed_nodes(world: World, crs: CrsMode) -> None:
    result = recover(world.services, world.nodes, world.config, crs)
    online = {n.name for n in world.nodes if n.online}
    by_sid = {s.sid: s for s in world.services}
    assert {r.sid for r in result.recoveries} == {s.sid for s in world.services if s.node not in online}
    assert [r.sid for r in result.recoveries] == sorted(r.sid for r in result.recoveries)
    for r in result.recoveries:
        svc = by_sid[r.sid]
        assert r.old_node == svc.node and r.state == svc.state
        if svc.state in ("disabled", "ignored"):
            assert r.outcome == "not-recovered" and r.new_node is None
        if r.new_node is not None:
            assert r.outcome == "recovered"
            assert r.new_node in world.schedulable
            assert r.new_node in world.allowed(svc)
        assert r.reason


@settings(max_examples=100, deadline=None)
@given(worlds(resource_affinity=False))
def test_without_resource_affinity_unplaceable_means_no_allowed_node_online(world: World) -> None:
    result = recover(world.services, world.nodes, world.config)
    for r in result.recoveries:
        svc = next(s for s in world.services if s.sid == r.sid)
        if r.outcome == "unplaceable":
            assert not (world.allowed(svc) & world.schedulable)
        elif r.outcome == "recovered":
            assert world.allowed(svc) & world.schedulable


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_recovery_never_joins_a_service_it_must_be_kept_apart_from(world: World) -> None:
    result = recover(world.services, world.nodes, world.config)
    compiled = compile_rules(world.config, world.services, [n.name for n in world.nodes])
    final: dict[str, str] = {}
    for svc in world.services:
        if svc.state == "started" and svc.node in world.schedulable:
            final[svc.sid] = svc.node  # running partners load their node
    final.update(result.placements)
    for sid, node in result.placements.items():
        for other in compiled.negative.get(sid, ()):
            assert final.get(other) != node, f"{sid} and {other} must be kept apart but share {node}"


@settings(max_examples=100, deadline=None)
@given(worlds(), st.sampled_from(["basic", "static"]))
def test_pending_moves_start_from_online_nodes_and_end_on_allowed_ones(world: World, crs: CrsMode) -> None:
    moves = pending_moves(world.services, world.nodes, world.config, crs)
    by_sid = {s.sid: s for s in world.services}
    online = {n.name for n in world.nodes if n.online}
    assert len({m.sid for m in moves}) == len(moves)
    for m in moves:
        svc = by_sid[m.sid]
        assert svc.state == "started"
        assert m.source == svc.node and m.source in online
        assert m.target != m.source
        assert m.target in world.schedulable
        assert m.target in world.allowed(svc)
        assert m.reason


@settings(max_examples=100, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_input_order(world: World, rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    services, nodes = list(world.services), list(world.nodes)
    rnd.shuffle(services)
    rnd.shuffle(nodes)
    assert recover(services, nodes, world.config) == recover(world.services, world.nodes, world.config)
    assert pending_moves(services, nodes, world.config) == pending_moves(world.services, world.nodes, world.config)
