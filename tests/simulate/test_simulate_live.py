"""``--live`` helpers: planning data from the stack, refusing a half-discovered cluster."""

from __future__ import annotations

from sim_builders import LAB_STACK

from provision.simulate.live import currently_down, discovery_gaps, with_planning_data
from provision.spec import Ha, load_stack


def test_capacity_and_crs_come_from_the_stack_when_discovery_lacks_them() -> None:
    spec = load_stack(LAB_STACK).cluster
    observed = spec.model_copy(
        update={"nodes": [n.model_copy(update={"capacity": None}) for n in spec.nodes],
                # As discovery builds it: crs not set (it does not read datacenter.cfg).
                "ha": Ha(groups=spec.ha.groups, resources=spec.ha.resources)}
    )
    static_spec = spec.model_copy(update={"ha": spec.ha.model_copy(update={"crs": "static"})})
    merged, notes = with_planning_data(observed, static_spec)
    assert all(n.capacity == spec.node(n.name).capacity for n in merged.nodes)  # type: ignore[union-attr]
    assert merged.ha.crs == "static"
    assert any("capacity from the stack file" in n for n in notes)


def test_a_half_read_cluster_is_refused() -> None:
    spec = load_stack(LAB_STACK).cluster
    assert discovery_gaps(spec) == []
    no_groups = spec.model_copy(update={"ha": spec.ha.model_copy(update={"groups": []})})
    gaps = discovery_gaps(no_groups)
    assert any("group 'web', which was not discovered" in g for g in gaps)


def test_offline_members_fail_first() -> None:
    assert [e.node for e in currently_down([("pve02", True), ("pve03", False), ("pve01", False)])] == [
        "pve01", "pve03"
    ]
