"""Address patterns (`ignore:` and `--prune KIND|ADDRESS`): what each form covers."""

from __future__ import annotations

import pytest

from provision.spec.addresses import Address, AddressPattern

CASES = [
    # pattern, address, covered
    ('storage["local"]', 'storage["local"]', True),
    ('storage["local"]', 'storage["local-lvm"]', False),
    ('storage["local*"]', 'storage["local-lvm"]', True),
    ("storage", 'storage["nfs-iso"]', True),
    ("ceph.osd", 'ceph.osd["pve03:/dev/sdg"]', True),
    ("ceph.osd", 'ceph.pool["vm-pool"]', False),
    ("ceph", 'ceph.pool["vm-pool"]', True),
    ('network["pve01"]', 'network["pve01"].bridge["vmbr9"]', True),
    ('network["*"].bridge["vmbr9*"]', 'network["pve02"].bridge["vmbr99"]', True),
    ('network["*"].bridge["vmbr9*"]', 'network["pve02"].bond["vmbr99"]', False),
    ('ha.resource["vm:10?"]', 'ha.resource["vm:104"]', True),
    ('ha.resource["vm:10?"]', 'ha.resource["vm:1040"]', False),
    ("corosync.link[1]", "corosync.link[1]", True),
    ("corosync.link[1]", "corosync.link[0]", False),
    ("*", 'storage["local"]', True),
]


@pytest.mark.parametrize(("pattern", "address", "covered"), CASES)
def test_pattern_covers(pattern: str, address: str, covered: bool) -> None:
    assert AddressPattern.parse(pattern).matches(Address.parse(address)) is covered


@pytest.mark.parametrize("text", ["ceph.osds", "stacks/lab.yaml", "lab.yaml", "storage.pool", "ha.group.x", ""])
def test_a_pattern_that_names_no_kind_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        AddressPattern.parse(text)
