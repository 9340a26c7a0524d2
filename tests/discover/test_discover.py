"""Discovery over recorded answers: assembly, request counting, retries, typed errors."""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from provision.discover import (
    ApiClient,
    ApiError,
    AuthError,
    ConfigError,
    Fetch,
    RetryableError,
    UnavailableError,
    UnmodelledError,
    discover,
    from_lab,
)
from provision.discover.client import HttpStatusError
from provision.discover.discover import CEPH_ENDPOINTS, CLUSTER_ENDPOINTS, NODE_ENDPOINTS
from provision.discover.endpoint import split_token
from provision.discover.replay import ReplayTransport

FIXTURES = Path(__file__).parents[1] / "fixtures" / "api"
NODES = ["pve01", "pve02", "pve03"]


def answers(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def run(data: dict[str, Any], hints: list[str] | None = None) -> Any:
    return discover(ApiClient(ReplayTransport(data), sleep=lambda _: None), hint_nodes=hints or [])


def test_built_cluster_identity_and_facts() -> None:
    d = run(answers("built-pve8"))
    o = d.observed
    assert o.identity() == {"name": "lab", "clustered": True, "pve_version": 8, "nodes": NODES, "config_version": 7,
                            "ceph_fsid": "5f0a3e1c-8d2b-4c7e-9a61-2b3c4d5e6f70", "quorate": True,
                            "bootstrap": []}
    assert o.expected_votes == 3 and o.online_votes == 3 and o.mon_quorum == NODES
    assert o.osd_for("pve03", "/dev/sdg") is not None and o.osd_for("pve03", "/dev/sdg").id == 17  # type: ignore[union-attr]
    assert d.cluster.name == "lab" and [n.nodeid for n in d.cluster.nodes] == [1, 2, 3]
    assert o.fingerprint.startswith("sha256:")


def test_blank_lab_reads_standalone_nodes_through_hints() -> None:
    d = run(answers("blank-pve8"), NODES)
    assert not d.observed.clustered and d.observed.standalone == NODES
    assert [n.nodeid for n in d.cluster.nodes] == [0, 0, 0]  # 0 = not a member
    assert d.cluster.corosync.links == [] and d.cluster.ceph is None


def test_offline_member_is_not_read_and_is_recorded() -> None:
    data = answers("built-pve8")
    data["/cluster/status"][3]["online"] = 0  # pve03
    d = run(data)
    assert d.observed.unreadable == {"pve03": "node is offline"}
    assert d.observed.offline_members == ["pve03"]
    assert not next(n for n in d.cluster.nodes if n.name == "pve03").interfaces


def test_fingerprint_is_stable_and_moves_with_reality() -> None:
    a = run(answers("built-pve8")).observed.fingerprint
    b = run(answers("built-pve8")).observed.fingerprint
    data = answers("built-pve8")
    data["/cluster/ha/resources"][0]["max_restart"] = 3
    c = run(data).observed.fingerprint
    assert a == b and a != c


def _add_node(data: dict[str, Any], name: str, i: int) -> None:
    data["/cluster/status"].append({"type": "node", "id": f"node/{name}", "name": name, "nodeid": i,
                                    "ip": f"192.168.10.{10 + i}", "local": 0, "online": 1, "level": ""})
    data["/cluster/config/nodes"].append({"node": name, "name": name, "nodeid": str(i), "quorum_votes": "1",
                                          "ring0_addr": f"10.10.10.{10 + i}", "ring1_addr": f"10.10.11.{10 + i}"})
    data[f"/nodes/{name}/network"] = copy.deepcopy(data["/nodes/pve03/network"])
    data[f"/nodes/{name}/disks/list?skipsmart=1"] = []
    data[f"/nodes/{name}/apt/versions"] = copy.deepcopy(data["/nodes/pve03/apt/versions"])


def test_request_count_depends_on_nodes_only() -> None:
    base = run(answers("built-pve8")).requests
    more_objects = answers("built-pve8")
    for vmid in range(300, 340):  # 40 more HA resources, 10 more pools: no more requests
        more_objects["/cluster/ha/resources"].append({"sid": f"vm:{vmid}", "type": "vm"})
    for n in range(10):
        more_objects["/nodes/pve01/ceph/pool"].append({"pool_name": f"p{n}", "size": 3})
    bigger = answers("built-pve8")
    _add_node(bigger, "pve04", 4)
    _add_node(bigger, "pve05", 5)
    # every cluster-wide path once, the node paths per node, the Ceph paths once, and the
    # report (no corosync-qdevice answered)
    assert base == len(CLUSTER_ENDPOINTS) + 3 * len(NODE_ENDPOINTS) + len(CEPH_ENDPOINTS) + 1
    assert run(more_objects).requests == base
    assert run(bigger).requests == base + 2 * 3


def test_a_stack_without_a_qdevice_does_not_ask_for_the_node_report() -> None:
    """PVE builds /nodes/{node}/report by running many commands (seconds on a real node);
    only a stack that declares a QDevice needs it to tell a stopped daemon from none."""
    asked: list[str] = []

    class Recording(ReplayTransport):
        def __call__(self, path: str, params: dict[str, Any]) -> Any:
            asked.append(path)
            return super().__call__(path, params)

    with_report = discover(ApiClient(Recording(answers("built-pve8")), sleep=lambda _: None))
    assert any(p.endswith("/report") for p in asked)
    asked.clear()
    without = discover(ApiClient(Recording(answers("built-pve8")), sleep=lambda _: None), read_report=False)
    assert asked and not any(p.endswith("/report") for p in asked)
    assert without.requests == with_report.requests - 1
    assert without.cluster.quorum.qdevice is None and without.cluster.nodes == with_report.cluster.nodes


class Flaky:
    """Fails `failures` times with `error`, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, path: str, params: dict[str, Any]) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return {"ok": True}


def test_retries_5xx_with_exponential_backoff() -> None:
    slept: list[float] = []
    client = ApiClient(Flaky(2, HttpStatusError(503, "busy")), sleep=slept.append)
    assert client.get("/version") == {"ok": True}
    assert client.requests == 3 and slept == [0.25, 0.5]


def test_retry_budget_is_bounded() -> None:
    client = ApiClient(Flaky(99, RetryableError("timeout talking to x")), sleep=lambda _: None)
    with pytest.raises(UnavailableError, match=r"after 4 attempt\(s\): timeout"):
        client.get("/version")
    assert client.requests == 4


@pytest.mark.parametrize(("status", "match"), [(401, "token was rejected"), (403, "PVEAuditor")])
def test_auth_errors_are_permanent_and_not_retried(status: int, match: str) -> None:
    client = ApiClient(Flaky(99, HttpStatusError(status, "no")), sleep=lambda _: None)
    with pytest.raises(AuthError, match=match):
        client.get("/cluster/status", optional=True)
    assert client.requests == 1


def test_optional_endpoint_absent_is_none_without_retry() -> None:
    client = ApiClient(Flaky(99, HttpStatusError(500, "ha groups have been migrated to rules")))
    assert client.get("/cluster/ha/groups", optional=True) is None
    assert client.requests == 1
    # a 500 that does not say "absent" is a failure, even on an optional endpoint
    broken = ApiClient(Flaky(99, HttpStatusError(500, "got timeout")), sleep=lambda _: None)
    with pytest.raises(UnavailableError, match="got timeout"):
        broken.get("/nodes/pve01/ceph/mon", optional=True)
    assert broken.requests == 4
    with pytest.raises(ApiError, match="HTTP 400"):
        ApiClient(Flaky(99, HttpStatusError(400, "bad"))).get("/x")


def test_token_parsing_and_secret_not_in_repr() -> None:
    assert split_token("root@pam!provision=abc=def") == ("root@pam!provision=abc", "def")
    assert split_token("PVEAPIToken=u@pve!t=s3cret") == ("u@pve!t", "s3cret")
    with pytest.raises(ConfigError):
        split_token("not-a-token")


def test_lab_connection_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISION_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="lab 'x' is not running"):
        from_lab("x")
    lab = tmp_path / "labs" / "x"
    (lab / "tokens").mkdir(parents=True)
    (lab / "tokens" / "admin.token").write_text("root@pam!provision=TOPSECRET\n")
    (lab / "connection.json").write_text(json.dumps({
        "api_url": "https://127.0.0.1:8443/api2/json", "ca_file": "/ca.pem",
        "token_file": str(lab / "tokens" / "admin.token")}))
    ep = from_lab("x")
    assert (ep.host, ep.port, ep.token_id, ep.ca_file) == ("127.0.0.1", 8443, "root@pam!provision", "/ca.pem")
    assert ep.secret == "TOPSECRET" and "TOPSECRET" not in repr(ep)


def test_configuration_a_stack_cannot_describe_is_one_line_discovery_error() -> None:
    """A real corosync.conf may hold values outside the spec's ranges: a clear
    DiscoveryError naming the field, never a pydantic report."""
    data = answers("built-pve8")
    data["/cluster/config/totem"]["token"] = "500"
    with pytest.raises(UnmodelledError, match=r"^corosync\.token: .*1000.* \(the cluster has 500\)") as info:
        run(data)
    assert "\n" not in str(info.value)


def test_ha_crs_is_read_from_cluster_options() -> None:
    """datacenter.cfg `crs` through GET /cluster/options (issue 11 item 9)."""
    assert run(answers("built-pve8")).cluster.ha.crs == "basic"  # absent: pve-cluster's default
    data = answers("built-pve8")
    data["/cluster/options"] = {"crs": {"ha": "static", "ha-rebalance-on-start": 1}, "allowed-tags": []}
    assert run(data).cluster.ha.crs == "static"
    data["/cluster/options"] = {"crs": {"ha": "dynamic"}, "allowed-tags": []}
    assert run(data).cluster.ha.crs == "dynamic"  # pve-cluster 9.1.2+


def test_datacenter_options_are_read_as_the_file_sets_them() -> None:
    """GET /cluster/options as PVE 9 answers: property strings as objects (booleans 1/0),
    bwlimit as its text; what the file leaves out stays unset (issue 15)."""
    data = answers("built-pve8")
    data["/cluster/options"] = {
        "crs": {"ha": "static", "ha-rebalance-on-start": 1, "ha-auto-rebalance": 1,
                "ha-auto-rebalance-threshold": "40", "ha-auto-rebalance-method": "topsis"},
        "ha": {"shutdown_policy": "migrate"},
        "migration": {"type": "insecure", "network": "10.40.40.0/24"},
        "email_from": "pve@example.com", "max_workers": 4, "bwlimit": "restore=51200,migration=102400",
        "next-id": {"lower": "1000", "upper": "2000"}, "keyboard": "de", "allowed-tags": [],
    }
    cluster = run(data).cluster
    assert cluster.ha.shutdown_policy == "migrate" and cluster.ha.rebalance_on_start is True
    auto = cluster.ha.auto_rebalance
    assert auto is not None and (auto.enabled, auto.threshold, auto.method, auto.margin) == (True, 40, "topsis", 10)
    dc = cluster.datacenter
    assert dc.migration is not None and dc.migration.type == "insecure"
    assert str(dc.migration.network) == "10.40.40.0/24"
    assert (dc.email_from, dc.max_workers) == ("pve@example.com", 4)
    assert dc.bwlimit is not None
    assert (dc.bwlimit.restore, dc.bwlimit.migration, dc.bwlimit.default) == (51200, 102400, None)
    assert dc.next_id is not None and (dc.next_id.lower, dc.next_id.upper) == (1000, 2000)
    blank = run(answers("built-pve8")).cluster
    assert blank.ha.shutdown_policy is None and blank.ha.auto_rebalance is None and blank.datacenter.empty


def test_a_disarmed_ha_stack_is_a_note_not_part_of_the_fingerprint() -> None:
    armed = run(answers("migrated-pve9"))
    data = answers("migrated-pve9")
    data["/cluster/ha/status/manager_status"]["manager_status"]["disarm"] = {"mode": "freeze", "state": "disarming"}
    disarmed = run(data)
    note = ("HA disarmed (resource-mode=freeze, disarming): nothing is fenced or recovered until someone runs "
            "`ha-manager crm-command arm-ha`")
    assert note in disarmed.observed.notes and not [n for n in armed.observed.notes if n.startswith("HA disarmed")]
    assert disarmed.observed.fingerprint == armed.observed.fingerprint  # a stored plan stays valid
    data["/cluster/ha/status/manager_status"] = {"__error__": [501, "Method not implemented"]}
    assert not [n for n in run(data).observed.notes if n.startswith("HA disarmed")]


class _Asked(ReplayTransport):
    """Records the paths asked, from any thread."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, path: str, params: dict[str, Any]) -> Any:
        with self.lock:
            self.asked.append(path)
        return super().__call__(path, params)


def test_the_cluster_wide_requests_leave_before_the_stack_is_known() -> None:
    """`Fetch` sends the cluster-wide reads when it is made (the planner is still
    validating the stack then); the per-node reads need the stack's node names and wait
    for `finish`. The answer is the same as one `discover` call."""
    transport = _Asked(answers("built-pve8"))
    client = ApiClient(transport, sleep=lambda _: None)
    cluster_paths = {path for path, _, _ in CLUSTER_ENDPOINTS.values()}
    calls: list[int] = []
    with Fetch(client) as started:
        deadline = time.monotonic() + 10
        while len(transport.asked) < len(CLUSTER_ENDPOINTS) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert set(transport.asked) == cluster_paths  # every cluster-wide read, nothing per node
        found = started.discover(NODES, meanwhile=lambda: calls.append(len(transport.asked)))
    assert len(calls) == 1  # ran once, after the per-node reads were handed to the pool
    assert any(p.startswith("/nodes/pve01/") for p in transport.asked)
    whole = run(answers("built-pve8"), NODES)
    assert found.cluster == whole.cluster and found.requests == whole.requests
    assert found.observed.fingerprint == whole.observed.fingerprint


def test_an_abandoned_discovery_sends_nothing_more() -> None:
    """A stack that does not validate abandons the discovery started for it: queued reads
    are cancelled and the client sends nothing more (no retries against a slow API)."""
    transport = _Asked(answers("built-pve8"))
    client = ApiClient(transport, sleep=lambda _: None)
    Fetch(client).close()
    sent = client.requests
    with pytest.raises(UnavailableError, match="abandoned"):
        client.get("/version")
    assert client.requests == sent
