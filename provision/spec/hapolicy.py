"""HA manager policy in datacenter.cfg: node shutdown handling and CRS rebalancing.

`ha: shutdown_policy=` decides what the HA manager does with a node's services when the
node is shut down or rebooted; `crs:` chooses how it places them (`ha.crs`, in
`provision.spec.ha`) and, with pve-ha-manager 5.2 (PVE 9), whether it rebalances them on
its own. Formats: pve-cluster `src/PVE/DataCenterConfig.pm` (`$crs_format`, `$ha_format`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from provision.spec.base import Int, SpecModel, described

WATCHDOG_MODULE = described(r"^[A-Za-z0-9_-]{1,64}$", "a kernel module name like ipmi_watchdog or iTCO_wdt")
"""What watchdog-mux hands to `modprobe -q` (pve-ha-manager `src/watchdog-mux.c`)."""

ShutdownPolicy = Literal["conditional", "freeze", "failover", "migrate"]
CrsMode = Literal["basic", "static", "dynamic"]

PVE9_CRS_MODES = frozenset({"dynamic"})
"""CRS modes pve-cluster offers only from 9.1.2 (not on PVE 8)."""


class AutoRebalance(SpecModel):
    """PVE 9 (pve-ha-manager 5.2): the CRS moves HA resources when nodes are imbalanced."""

    enabled: bool = Field(default=True, description="Rebalance automatically (`ha-auto-rebalance`).")
    threshold: Int = Field(default=30, ge=0, le=100,
                           description="Node imbalance in percent that triggers a rebalance.")
    method: Literal["bruteforce", "topsis"] = Field(default="bruteforce",
                                                    description="How candidate migrations are scored.")
    hold_duration: Int = Field(default=3, ge=0, le=2**31 - 1,
                               description="HA rounds the imbalance must last before a migration starts.")
    margin: Int = Field(default=10, ge=0, le=100,
                        description="Minimum improvement in percent a migration must bring.")


SHUTDOWN_POLICY_TEXT = {
    "conditional": "freezes services on reboot, recovers them elsewhere on power-off",
    "freeze": "freezes services on reboot and power-off (they stay down until the node is back)",
    "failover": "stops services and recovers them on other nodes after the node is fenced",
    "migrate": "live-migrates running services away before the node goes down",
}
"""What each policy does, in words (rules and the cluster summary use them)."""

PVE_DEFAULTS = {
    "shutdown_policy": "conditional",
    "rebalance_on_start": False,
    "auto_rebalance": AutoRebalance(enabled=False),
}
"""What PVE does when datacenter.cfg leaves the option out (`DataCenterConfig.pm` defaults)."""


def placement_mode(mode: CrsMode) -> Literal["basic", "static"]:
    """The CRM mode a prediction (plan impact, what-if) places with. `dynamic` scores nodes
    with static's configured CPU and memory plus live usage (pve-ha-manager 5.2
    `Usage/Dynamic.pm`), which a prediction does not have: it predicts as `static`."""
    return "static" if mode == "dynamic" else mode
