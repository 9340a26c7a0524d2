"""The `notifications:` and `backups:` keys: what a stack may say, and the errors (one
line, FILE:LINE:COL) for what PVE would refuse or what would never back anything up."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.spec import SpecError, load_text
from provision.spec.backups import Retention

BASE = (Path(__file__).parents[2] / "stacks" / "lab.yaml").read_text()


def _error(extra: str) -> str:
    with pytest.raises(SpecError) as exc:
        load_text(BASE + extra, "s.yaml")
    return str(exc.value)


def test_a_job_selects_exactly_one_way() -> None:
    err = _error("backups:\n  jobs:\n    - {id: j, schedule: daily, storage: pbs-backup, all: true, vmids: [100]}\n")
    assert "exactly one of all, vmids or pool (it has all, vmids)" in err and "s.yaml:" in err
    err = _error("backups:\n  jobs:\n    - {id: j, schedule: daily, storage: pbs-backup, pool: db, exclude: [1000]}\n")
    assert "exclude goes with all only" in err


def test_a_job_needs_a_storage_that_holds_backups() -> None:
    err = _error("backups:\n  jobs:\n    - {id: j, schedule: daily, storage: ceph-vm, all: true}\n")
    assert "backup job j writes to storage ceph-vm, which does not hold content 'backup'" in err
    err = _error("backups:\n  jobs:\n    - {id: j, schedule: daily, storage: pbs-bakup, all: true}\n")
    assert "unknown storage 'pbs-bakup'" in err
    line = BASE.count("\n") + 3
    assert f"s.yaml:{line}:" in err


def test_a_matcher_names_declared_or_builtin_targets() -> None:
    err = _error("notifications:\n  matchers:\n    - {name: m, target: [mail-to-root, pager]}\n")
    assert "matcher m names unknown target 'pager'" in err and "mail-to-root" not in err.split("'pager'")[0]


def test_notification_secrets_are_references_and_not_our_own() -> None:
    smtp = ("notifications:\n  targets:\n    - {name: r, type: smtp, server: s, from_address: a@b, mailto: [x@y], "
            "password: %s}\n")
    assert "inline secret is not allowed" in _error(smtp % "hunter2")
    assert "PVE_TOKEN is one of pve-provision's own variables, not a notification secret" in _error(
        smtp % "{env: PVE_TOKEN}")
    assert "needs at least one recipient" in _error(
        "notifications:\n  targets:\n    - {name: r, type: sendmail}\n")


def test_retention_text_round_trips() -> None:
    r = Retention.parse("keep-last=3,keep-daily=7,keep-weekly=4")
    assert r.pve_text() == "keep-last=3,keep-daily=7,keep-weekly=4"
    assert Retention.parse("keep-all=1").pve_text() == "keep-all=1"
    with pytest.raises(ValueError):
        Retention(keep_all=True, keep_daily=1)


@pytest.mark.parametrize(("fields", "routed"), [
    ({"match_field": ["exact:type=fencing"]}, True),
    ({"match_field": ["exact:type=vzdump,fencing"]}, True),  # PVE's exact match takes a list
    ({"match_field": ["regex:type=^fen"]}, True),
    ({"match_field": ["exact:type=vzdump"]}, False),
    ({"match_field": ["exact:type=vzdump"], "match_severity": ["error"], "mode": "any"}, True),
    ({"match_field": ["exact:type=vzdump"], "match_severity": ["error"]}, False),
    ({"match_field": ["exact:type=fencing"], "invert_match": True}, False),
    ({"match_field": ["exact:type=fencing"], "disable": True}, False),
])
def test_which_matchers_route_fencing(fields: dict[str, object], routed: bool) -> None:
    from provision.spec.notifications import Matcher

    assert Matcher.model_validate({"name": "m", "target": ["t"], **fields}).routes_type("fencing") is routed
    assert not Matcher.model_validate({"name": "m", **fields}).routes_type("fencing")  # no target: nowhere
