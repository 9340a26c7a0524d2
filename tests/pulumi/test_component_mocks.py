"""`ProxmoxCluster` under Pulumi's mock runtime: what the component registers and exports.

The mocks stand in for the Pulumi engine only (no provider code runs); the provider
itself is tested through the real gRPC protocol in test_provider_grpc.py.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from provision.pulumi import ProxmoxCluster

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = {"name": "lab", "nodes": ["pve01", "pve02", "pve03"], "quorum_votes": 3, "quorate": True,
           "ceph_health": "HEALTH_OK", "pending_changes": 0, "last_plan_id": "plan-0123456789"}


class Engine(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.registered.append(args)
        if args.typ.endswith("pve-provision:Cluster"):
            return "pve-cluster-lab", {**args.inputs, **OUTPUTS}
        return None, {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def engine() -> Engine:
    mocks = Engine()
    pulumi.runtime.set_mocks(mocks, project="pve", stack="dev", preview=False)
    return mocks


def _secret(wire: Any) -> Any:
    """The value of a property the engine receives marked secret (it stays encrypted in the
    state); a value not marked secret fails."""
    assert isinstance(wire, dict) and wire.get(rpc._special_sig_key) == rpc._special_secret_sig, wire
    return wire["value"]


@pulumi.runtime.test
def test_component_exports_the_cluster_outputs(engine: Engine) -> Any:
    cluster = ProxmoxCluster("lab", "stacks/lab.yaml", secrets={"PBS_PASSWORD": "s3cret-pbs"})

    def check(values: list[Any]) -> None:
        name, nodes, votes, health, plan_id = values
        assert (name, nodes, votes, health, plan_id) == ("lab", OUTPUTS["nodes"], 3, "HEALTH_OK", "plan-0123456789")
        types = [a.typ for a in engine.registered]
        assert types == ["pve-provision:index:ProxmoxCluster", "pulumi-python:dynamic/pve-provision:Cluster"]
        resource = engine.registered[1]
        assert resource.name == "lab-cluster"
        assert resource.inputs["stack"] == "stacks/lab.yaml" and resource.inputs["allow_delete"] is False
        assert _secret(resource.inputs["secrets"]) == {"PBS_PASSWORD": "s3cret-pbs"}

    return pulumi.Output.all(cluster.name, cluster.nodes, cluster.quorum_votes, cluster.ceph_health,
                             cluster.last_plan_id).apply(check)


@pulumi.runtime.test
def test_secrets_default_to_pulumi_config(engine: Engine) -> Any:
    pulumi.runtime.set_all_config({"pve-provision:secrets": json.dumps({"PBS_PASSWORD": "from-config"})},
                                  secret_keys=["pve-provision:secrets"])
    cluster = ProxmoxCluster("lab", "stacks/lab.yaml")

    def check(_: Any) -> None:
        assert _secret(engine.registered[-1].inputs["secrets"]) == {"PBS_PASSWORD": "from-config"}

    return cluster.name.apply(check)


@pulumi.runtime.test
def test_example_program_declares_one_cluster(engine: Engine) -> Any:
    pulumi.runtime.set_all_config({"pve:stack": "stacks/lab.yaml"})  # the mock project is "pve"
    program = runpy.run_path(str(ROOT / "examples" / "pulumi" / "__main__.py"))

    def check(name: str) -> None:
        (cluster,) = [a for a in engine.registered if a.typ.endswith("pve-provision:Cluster")]
        assert name == "lab"
        assert cluster.inputs["stack"] == "stacks/lab.yaml" and cluster.inputs["allow_delete"] is False

    return program["cluster"].name.apply(check)
