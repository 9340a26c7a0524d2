"""`provision apply` command-line behaviour that needs no lab."""

from __future__ import annotations

from pathlib import Path

from provision.cli.apply import physical_nics
from provision.spec import load_stack

STACK = Path(__file__).parents[2] / "stacks" / "lab.yaml"


def test_physical_nics_come_from_the_observed_nodes() -> None:
    cluster = load_stack(STACK).cluster
    nics = physical_nics(cluster)
    assert set(nics) == set(cluster.node_names)
    first = cluster.nodes[0]
    assert nics[first.name] == [i.name for i in first.interfaces if i.type == "nic"]
    assert "vmbr0" not in nics[first.name]
