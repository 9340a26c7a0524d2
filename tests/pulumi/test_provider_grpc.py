"""The dynamic provider through Pulumi's real gRPC protocol, against a lab.

`python -m pulumi.dynamic` is the provider plugin the Pulumi engine starts for a Python
dynamic resource; it serves pulumirpc.ResourceProvider on a local port. These tests are
the engine: they send the requests `pulumi up`, `pulumi refresh` and `pulumi destroy`
send (Check → Diff → Create → Read → Diff → Update → Delete), with the provider serialized
into the `__provider` property exactly as `pulumi.dynamic.Resource` does.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

from provision.pulumi import ClusterProvider

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

ROOT = Path(__file__).resolve().parents[2]
URN = "urn:pulumi:dev::pve::pve-provision:index:ProxmoxCluster$pulumi-python:dynamic/pve-provision:Cluster::lab"
PROVIDER = serialize_provider(ClusterProvider())


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return asyncio.run(rpc.serialize_properties({**props, "__provider": PROVIDER}, {}))


def _props(struct: struct_pb2.Struct) -> dict[str, Any]:
    out = rpc.deserialize_properties(struct)
    out.pop("__provider", None)
    return dict(out)


class Engine:
    """The calls the Pulumi engine makes, on one provider plugin process."""

    def __init__(self, stub: provider_pb2_grpc.ResourceProviderStub, work: Path) -> None:
        self.stub, self.work = stub, work

    def stack(self, name: str, edit: Any = None) -> str:
        text = (ROOT / "stacks" / "lab.yaml").read_text()
        path = self.work / f"{name}.yaml"
        path.write_text(edit(text) if edit else text)
        return str(path)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> proto.CheckResponse:
        return self.stub.Check(proto.CheckRequest(urn=URN, olds=_struct(olds), news=_struct(news)))

    def checked(self, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.check(olds or {}, news)
        assert list(response.failures) == []
        return _props(response.inputs)

    def diff(self, olds: dict[str, Any], news: dict[str, Any]) -> proto.DiffResponse:
        return self.stub.Diff(proto.DiffRequest(id="pve-cluster-lab", urn=URN, olds=_struct(olds),
                                                news=_struct(news)))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A lab built from stacks/lab.yaml and the provider plugin, both in a private home."""
    home, work = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work")
    env = {**os.environ, "PROVISION_HOME": str(home), "PBS_PASSWORD": "grpc-pbs-5e1a", "NO_COLOR": "1"}
    env.pop("PVE_TOKEN", None)
    up = subprocess.run([sys.executable, "-m", "provision", "lab", "up", "--from", str(ROOT / "stacks" / "lab.yaml")],
                        env=env, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    plugin = subprocess.Popen([sys.executable, "-m", "pulumi.dynamic"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, cwd=work)
    try:
        assert plugin.stdout is not None
        port = int(plugin.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            stub.Configure(proto.ConfigureRequest(args=struct_pb2.Struct()))
            yield Engine(stub, work)
    finally:
        plugin.terminate()
        plugin.wait(timeout=30)
        subprocess.run([sys.executable, "-m", "provision", "lab", "down"], env=env, capture_output=True, timeout=300)


def _relocate(value: int) -> Any:
    return lambda text: text.replace('{sid: "vm:102", group: db, max_relocate: 2}',
                                     f'{{sid: "vm:102", group: db, max_relocate: {value}}}')


def test_check_reports_findings_at_their_stack_position(engine: Engine) -> None:
    broken = engine.stack("broken", lambda t: t.replace("min_size: 2", "min_size: 1"))
    response = engine.check({}, {"stack": broken})
    failures = [(f.property, f.reason) for f in response.failures]
    assert len(failures) == 1 and failures[0][0] == "stack"
    assert re.fullmatch(rf"{re.escape(broken)}:\d+:\d+: ceph\.pools\[\"vm-pool\"\]\.min_size: .*\[PVE-CEPH005\]",
                        failures[0][1]), failures
    nope = engine.work / "nope.yaml"
    missing = engine.check({}, {"stack": str(nope)})
    assert [(f.property, f.reason) for f in missing.failures] == [("stack", f"{nope}: no such file")]


def test_lifecycle_check_diff_create_read_diff_update_delete(engine: Engine) -> None:
    # pulumi up (new resource): Check, Create. The stack moves vm:102's max_relocate 2 → 3.
    v1 = engine.checked({"stack": engine.stack("v1", _relocate(3)), "allow_delete": False})
    assert v1["stack_digest"].startswith("sha256:")
    created = engine.stub.Create(proto.CreateRequest(urn=URN, properties=_struct(v1)))
    outs = _props(created.properties)
    assert created.id == "pve-cluster-lab"
    assert outs["name"] == "lab" and outs["nodes"] == ["pve01", "pve02", "pve03"]
    assert outs["quorum_votes"] == 3 and outs["quorate"] is True and outs["ceph_health"] == "HEALTH_OK"
    assert outs["pending_changes"] == 0 and outs["last_plan_id"].startswith("plan-")
    assert "secrets" not in outs

    # pulumi refresh: Read is discovery, and nothing is pending
    state = {**v1, **outs}
    read = engine.stub.Read(proto.ReadRequest(id=created.id, urn=URN, properties=_struct(state),
                                              inputs=_struct(v1)))
    assert _props(read.properties)["pending_changes"] == 0

    # pulumi up again, same stack: Diff says nothing to do
    same = engine.diff(state, engine.checked(v1, v1))
    assert same.changes == proto.DiffResponse.DIFF_NONE

    # one field of the stack changes (max_relocate 3 → 4): Diff shows it, Update applies that plan
    v2 = engine.checked({"stack": engine.stack("v2", _relocate(4)), "allow_delete": False}, v1)
    changed = engine.diff(state, v2)
    sys.stderr.write(f"gRPC DiffResponse for max_relocate 3 -> 4:\n{changed}\n")
    assert changed.changes == proto.DiffResponse.DIFF_SOME
    assert list(changed.replaces) == [] and changed.deleteBeforeReplace is False
    updated = engine.stub.Update(proto.UpdateRequest(id=created.id, urn=URN, olds=_struct(state),
                                                     news=_struct(v2)))
    after = _props(updated.properties)
    assert after["pending_changes"] == 0 and after["last_plan_id"] != outs["last_plan_id"]
    assert engine.diff({**v2, **after}, engine.checked(v2, v2)).changes == proto.DiffResponse.DIFF_NONE

    # pulumi destroy: refused, the cluster stays; with allow_delete Pulumi may only forget it
    with pytest.raises(grpc.RpcError) as refused:
        engine.stub.Delete(proto.DeleteRequest(id=created.id, urn=URN, properties=_struct({**v2, **after})))
    assert "refusing to delete the Proxmox cluster" in str(refused.value.details())
    engine.stub.Delete(proto.DeleteRequest(id=created.id, urn=URN,
                                           properties=_struct({**v2, **after, "allow_delete": True})))
    again = _props(engine.stub.Read(proto.ReadRequest(id=created.id, urn=URN, properties=_struct({**v2, **after}),
                                                      inputs=_struct(v2))).properties)
    assert again["nodes"] == ["pve01", "pve02", "pve03"] and again["pending_changes"] == 0
