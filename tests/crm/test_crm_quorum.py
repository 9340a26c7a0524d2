"""Quorum math: votequorum thresholds and the ffsplit / lms QDevice algorithms."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.crm.quorum import (
    Member,
    QDevice,
    expected_votes,
    partition_quorum,
    qdevice_votes,
    quorum_threshold,
)


def cluster(n: int) -> list[Member]:
    """``pve1..pveN`` with node ids 1..N and one vote each, as ``pvecm add`` creates them."""
    return [Member(f"pve{i}", i) for i in range(1, n + 1)]


@pytest.mark.parametrize(
    ("expected", "threshold"),
    [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (9, 5)],
)
def test_quorum_threshold_is_strict_majority(expected: int, threshold: int) -> None:
    assert quorum_threshold(expected) == threshold


@pytest.mark.parametrize(
    ("members", "qdevice", "expected"),
    [
        (cluster(3), None, 3),
        (cluster(2), QDevice("ffsplit"), 3),  # pve-facts: 2 nodes + qdevice -> expected 3, quorum 2
        (cluster(4), QDevice("ffsplit"), 5),
        (cluster(5), QDevice("lms"), 9),  # lms default votes = sum(node votes) - 1 = 4
        (cluster(5), QDevice("lms", votes=2), 7),  # an explicit votes: wins over the default
        ([Member("a", 1, 2), Member("b", 2), Member("c", 3)], None, 4),
    ],
)
def test_expected_votes(members: list[Member], qdevice: QDevice | None, expected: int) -> None:
    assert expected_votes(members, qdevice) == expected


@dataclass(frozen=True)
class Case:
    name: str
    members: list[Member]
    partitions: list[set[str]]
    qdevice: QDevice | None
    reachable: set[str] | None
    quorate: list[bool]
    qdevice_votes: list[int]


CASES = [
    Case("3 nodes, 1 down: 2 of 3 is quorate", cluster(3), [{"pve1", "pve2"}], None, None, [True], [0]),
    Case("3 nodes, 2 down: 1 of 3 is not", cluster(3), [{"pve3"}], None, None, [False], [0]),
    Case("3 nodes 2/1 split", cluster(3), [{"pve1", "pve2"}, {"pve3"}], None, None, [True, False], [0, 0]),
    Case(
        "4 nodes 2/2 without qdevice: neither side",
        cluster(4),
        [{"pve1", "pve2"}, {"pve3", "pve4"}],
        None,
        None,
        [False, False],
        [0, 0],
    ),
    Case(
        "4 nodes 2/2 ffsplit: lowest node id side wins",
        cluster(4),
        [{"pve3", "pve4"}, {"pve1", "pve2"}],
        QDevice("ffsplit"),
        None,
        [False, True],
        [0, 1],
    ),
    Case(
        "4 nodes 2/2 ffsplit tie_breaker highest",
        cluster(4),
        [{"pve1", "pve2"}, {"pve3", "pve4"}],
        QDevice("ffsplit", tie_breaker="highest"),
        None,
        [False, True],
        [0, 1],
    ),
    Case(
        "4 nodes 2/2 ffsplit tie_breaker node id 4",
        cluster(4),
        [{"pve1", "pve3"}, {"pve2", "pve4"}],
        QDevice("ffsplit", tie_breaker=4),
        None,
        [False, True],
        [0, 1],
    ),
    Case(
        "4 nodes 2/2 ffsplit, qnetd unreachable from the tie-breaker side",
        cluster(4),
        [{"pve1", "pve2"}, {"pve3", "pve4"}],
        QDevice("ffsplit"),
        {"pve3", "pve4"},
        [False, True],
        [0, 1],
    ),
    Case(
        "4 nodes 2/2 ffsplit, more qnetd-connected nodes beat the tie-breaker",
        cluster(4),
        [{"pve1", "pve2"}, {"pve3", "pve4"}],
        QDevice("ffsplit"),
        {"pve2", "pve3", "pve4"},
        [False, True],
        [0, 1],
    ),
    Case(
        "4 nodes, 1 down, 2/1 split ffsplit: the half wins, the quarter never",
        cluster(4),
        [{"pve3"}, {"pve1", "pve2"}],
        QDevice("ffsplit"),
        None,
        [False, True],
        [0, 1],
    ),
    Case(
        "4 nodes, 2 down, 1/1 split ffsplit: less than half never gets the vote",
        cluster(4),
        [{"pve1"}, {"pve3"}],
        QDevice("ffsplit"),
        None,
        [False, False],
        [0, 0],
    ),
    Case(
        "4 nodes all up ffsplit: 4 + 1 of 5",
        cluster(4),
        [{"pve1", "pve2", "pve3", "pve4"}],
        QDevice("ffsplit"),
        None,
        [True],
        [1],
    ),
    Case("2 nodes without qdevice, one down: 1 of 2", cluster(2), [{"pve1"}], None, None, [False], [0]),
    Case("2 nodes split without qdevice", cluster(2), [{"pve1"}, {"pve2"}], None, None, [False, False], [0, 0]),
    Case(
        "2 nodes + ffsplit, pve1 down: survivor gets the vote",
        cluster(2),
        [{"pve2"}],
        QDevice("ffsplit"),
        None,
        [True],
        [1],
    ),
    Case(
        "2 nodes + ffsplit split: lowest node id keeps quorum",
        cluster(2),
        [{"pve2"}, {"pve1"}],
        QDevice("ffsplit"),
        None,
        [False, True],
        [0, 1],
    ),
    Case(
        "2 nodes + ffsplit split, pve1 cannot reach qnetd",
        cluster(2),
        [{"pve1"}, {"pve2"}],
        QDevice("ffsplit"),
        {"pve2"},
        [False, True],
        [0, 1],
    ),
    Case(
        "2 nodes + ffsplit, pve1 down and qnetd unreachable",
        cluster(2),
        [{"pve2"}],
        QDevice("ffsplit"),
        set(),
        [False],
        [0],
    ),
    Case(
        "5 nodes lms, 4 down: the last man stands",
        cluster(5),
        [{"pve4"}],
        QDevice("lms"),
        None,
        [True],
        [4],
    ),
    Case(
        "5 nodes lms, 4 down, qnetd unreachable",
        cluster(5),
        [{"pve4"}],
        QDevice("lms"),
        {"pve1", "pve2"},
        [False],
        [0],
    ),
    Case(
        "5 nodes lms 2/3 split: more connected nodes win",
        cluster(5),
        [{"pve1", "pve2"}, {"pve3", "pve4", "pve5"}],
        QDevice("lms"),
        None,
        [False, True],
        [0, 4],
    ),
    Case(
        "5 nodes lms 2/3 split, only the small side reaches qnetd: it wins",
        cluster(5),
        [{"pve1", "pve2"}, {"pve3", "pve4", "pve5"}],
        QDevice("lms"),
        {"pve1"},
        [True, False],
        [4, 0],
    ),
    Case(
        "5 nodes lms 2/2 split, 1 down: lowest connected node id breaks the tie",
        cluster(5),
        [{"pve4", "pve5"}, {"pve2", "pve3"}],
        QDevice("lms"),
        None,
        [False, True],
        [0, 4],
    ),
    Case(
        "weighted votes: pve1 has 2 of 4",
        [Member("pve1", 1, 2), Member("pve2", 2), Member("pve3", 3)],
        [{"pve1"}, {"pve2", "pve3"}],
        None,
        None,
        [False, False],
        [0, 0],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_partition_quorum(case: Case) -> None:
    result = partition_quorum(case.members, case.partitions, case.qdevice, case.reachable)
    assert [p.quorate for p in result] == case.quorate
    assert [p.qdevice_votes for p in result] == case.qdevice_votes
    assert [set(p.nodes) for p in result] == case.partitions
    for p in result:
        assert p.expected == expected_votes(case.members, case.qdevice)
        assert p.threshold == quorum_threshold(p.expected)
        assert p.votes == sum(m.votes for m in case.members if m.name in p.nodes) + p.qdevice_votes
        assert ("not quorate" in p.reason) is not p.quorate


def test_reason_names_the_cause() -> None:
    left, right = partition_quorum(
        cluster(4), [{"pve1", "pve2"}, {"pve3", "pve4"}], QDevice("ffsplit"), {"pve3", "pve4"}
    )
    assert "cannot reach qnetd" in left.reason
    assert "3 of 5 votes" in right.reason and "need 3" in right.reason


@pytest.mark.parametrize(
    ("partitions", "reachable", "message"),
    [
        ([{"pve9"}], None, "unknown node"),
        ([{"pve1", "pve2"}, {"pve2"}], None, "more than one partition"),
        ([{"pve1"}], {"nope"}, "unknown node"),
    ],
)
def test_bad_input_is_rejected(partitions: list[set[str]], reachable: set[str] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        partition_quorum(cluster(3), partitions, QDevice("ffsplit"), reachable)


def test_duplicate_nodeid_is_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate nodeid"):
        partition_quorum([Member("a", 1), Member("b", 1)], [{"a"}])


# --- properties -------------------------------------------------------------------------


@st.composite
def split_clusters(draw: st.DrawFn) -> tuple[list[Member], list[set[str]], QDevice | None, set[str] | None]:
    n = draw(st.integers(min_value=1, max_value=8))
    votes = draw(st.lists(st.integers(min_value=0, max_value=3), min_size=n, max_size=n))
    ids = draw(st.permutations(range(1, n + 1)))
    members = [Member(f"n{i}", ids[i], votes[i]) for i in range(n)]
    # -1 = down, otherwise the partition index
    where = draw(st.lists(st.integers(min_value=-1, max_value=3), min_size=n, max_size=n))
    partitions = [{m.name for m, w in zip(members, where, strict=True) if w == k} for k in range(4)]
    partitions = [p for p in partitions if p]
    qdevice = draw(
        st.none()
        | st.builds(
            QDevice,
            algorithm=st.sampled_from(["ffsplit", "lms"]),
            votes=st.none() | st.integers(min_value=0, max_value=5),
            tie_breaker=st.sampled_from(["lowest", "highest"]),
        )
    )
    reachable = draw(st.none() | st.sets(st.sampled_from([m.name for m in members])))
    return members, partitions, qdevice, reachable


@settings(deadline=None)
@given(split_clusters())
def test_at_most_one_partition_is_quorate(
    data: tuple[list[Member], list[set[str]], QDevice | None, set[str] | None],
) -> None:
    members, partitions, qdevice, reachable = data
    result = partition_quorum(members, partitions, qdevice, reachable)
    assert sum(p.quorate for p in result) <= 1
    assert sum(1 for p in result if p.qdevice_votes) <= 1
    for p in result:
        assert p.quorate == (p.votes >= p.threshold)
        if p.qdevice_votes:
            assert reachable is None or p.nodes & reachable, "qnetd voted for a partition that cannot reach it"


@settings(deadline=None)
@given(st.integers(min_value=2, max_value=9), st.data())
def test_lms_last_man_standing_is_quorate(n: int, data: st.DataObject) -> None:
    members = cluster(n)
    survivor = data.draw(st.sampled_from([m.name for m in members]))
    (only,) = partition_quorum(members, [{survivor}], QDevice("lms"))
    assert only.quorate
    assert only.qdevice_votes == qdevice_votes(members, QDevice("lms")) == n - 1


@settings(deadline=None)
@given(split_clusters())
def test_without_qdevice_quorum_is_a_vote_majority(
    data: tuple[list[Member], list[set[str]], QDevice | None, set[str] | None],
) -> None:
    members, partitions, _, _ = data
    total = sum(m.votes for m in members)
    for p in partition_quorum(members, partitions):
        assert p.quorate == (2 * p.votes > total)
