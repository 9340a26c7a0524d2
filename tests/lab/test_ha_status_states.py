"""HA verbose service states as pve-ha-manager's ``Tools::get_verbose_service_state`` derives them."""

from __future__ import annotations

import pytest

from provision.lab.ops.ha import verbose_state


@pytest.mark.parametrize(("request_state", "crm", "has_node", "expected"), [
    (None, "started", True, "deleting"),
    ("ignored", "started", True, "ignored"),
    ("started", None, False, "not found"),
    ("started", None, True, "queued"),
    ("enabled", "stopped", True, "starting"),
    ("started", "stopped", True, "starting"),
    ("stopped", "stopped", True, "stopped"),
    ("disabled", "stopped", True, "disabled"),
    ("stopped", "started", True, "stopping"),
    ("disabled", "started", True, "stopping"),
    ("started", "started", True, "started"),
    ("disabled", "error", True, "clearing error flag"),
    ("started", "error", True, "error"),
    ("started", "recovery", True, "recovery"),
    ("stopped", "request_stop", True, "request_stop"),
])
def test_verbose_state(request_state: str | None, crm: str | None, has_node: bool, expected: str) -> None:
    assert verbose_state(request_state, crm, has_node) == expected
