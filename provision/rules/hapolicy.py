"""HA policy trade-offs: what happens to HA services when a node reboots or shuts down,
where migrations run, and what the scheduler needs to know (issue 15).

Sources: pve-cluster `src/PVE/DataCenterConfig.pm` (the `pve-ha-shutdown-policy`, `crs` and
`migration` formats and their descriptions), pve-docs `ha-manager.adoc` ("Shutdown Policy",
"CRS") and `qm.adoc` (migration network and type). Ids start at 020 so that they never
collide with the HA rules other work adds in the same release.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from provision.rules.registry import Hit, rule
from provision.spec import Cluster


def _started(c: Cluster) -> list[str]:
    return [r.sid for r in c.ha.resources if r.state == "started"]


@rule("PVE-HA020", "warning", "Shutdown policy freeze: HA services stay down while their node is down")
def freeze_policy(c: Cluster) -> Iterator[Hit]:
    """With `shutdown_policy: freeze` the HA manager freezes the services of a node that
    is shut down or rebooted: they are neither moved nor recovered until that node is
    back. A planned power-off for a hardware repair then takes every HA service on the
    node down for the whole repair.

    Fix: `migrate` (services move away before the node goes down and come back after),
    or `conditional` (freeze on reboot, recover on power-off) if reboots are short.
    """
    started = _started(c)
    if c.ha.shutdown_policy == "freeze" and started:
        yield Hit(("ha", "shutdown_policy"),
                  f"shutdown_policy freeze: {len(started)} started HA service(s) stay down while their node is shut "
                  "down or rebooted; they are not recovered elsewhere",
                  "use migrate (or conditional to recover on power-off)")


@rule("PVE-HA021", "info", "Shutdown policy conditional: a reboot freezes HA services")
def conditional_policy(c: Cluster) -> Iterator[Hit]:
    """PVE's default `conditional` policy freezes a node's HA services on a reboot (they
    wait for the node) and recovers them elsewhere only on a power-off, after fencing
    (about two minutes). A maintenance reboot therefore stops the node's services for
    the length of the reboot. Said only when the stack sets it: an unset policy is the
    cluster's own choice, which the stack does not know.

    Fix: set `shutdown_policy: migrate` to live-migrate services away before a reboot,
    or use maintenance mode (`ha-manager crm-command node-maintenance enable`) first.
    """
    started = _started(c)
    if c.ha.shutdown_policy == "conditional" and started:
        yield Hit(("ha", "shutdown_policy"),
                  f"shutdown_policy conditional: a reboot freezes the node's started HA services ({len(started)} "
                  "in the stack) until it is back",
                  "set shutdown_policy: migrate, or enable maintenance mode before reboots")


@rule("PVE-HA022", "warning", "Shutdown policy migrate without a migration network")
def migrate_without_network(c: Cluster) -> Iterator[Hit]:
    """`migrate` moves every running HA service off a node before it goes down. Without
    `datacenter.migration.network` PVE migrates over the network of the node's address,
    usually the management network, which the guests' memory then saturates during every
    maintenance reboot, next to the API and (often) Corosync.

    Fix: set `datacenter.migration.network` to a dedicated network every node has an
    address in (a bond, ideally 10 Gbit/s or more).
    """
    dc = c.datacenter
    if c.ha.shutdown_policy == "migrate" and (dc.migration is None or dc.migration.network is None):
        yield Hit(("ha", "shutdown_policy"),
                  "shutdown_policy migrate without datacenter.migration.network: guests migrate over the "
                  "management network on every reboot",
                  "set datacenter.migration.network to a dedicated network")


def _shared_with(c: Cluster, net: ipaddress.IPv4Network) -> list[str]:
    """What else runs on `net`: management addresses, Corosync links, Ceph networks."""
    out = [f"management address of {n.name}" for n in c.nodes if n.address in net][:1]
    out += [f"corosync link {k.number}" for k in c.corosync.links if k.network.overlaps(net)]
    if c.ceph is not None:
        out += [f"ceph {name}" for name in ("public_network", "cluster_network")
                if (value := getattr(c.ceph, name)) is not None and value.overlaps(net)]
    return out


@rule("PVE-HA023", "warning", "Insecure migration on a network that is not dedicated")
def insecure_migration(c: Cluster) -> Iterator[Hit]:
    """`migration: type=insecure` sends guest memory unencrypted, which PVE's schema allows
    only "on secure, completely private networks". Without a migration network, or on one
    shared with the management addresses, Corosync or Ceph, anyone on that network can
    read the guests' memory, and migration traffic competes with cluster traffic.

    Fix: keep `type: secure`, or set `datacenter.migration.network` to a network used
    for nothing else.
    """
    mig = c.datacenter.migration
    if mig is None or mig.type != "insecure":
        return
    if mig.network is None:
        yield Hit(("datacenter", "migration", "type"), "insecure migration without a migration network: guest "
                  "memory crosses the management network unencrypted", "set migration.network, or type: secure")
        return
    shared = _shared_with(c, mig.network)
    if shared:
        yield Hit(("datacenter", "migration", "network"),
                  f"insecure migration on {mig.network}, which also carries {', '.join(shared)}",
                  "use a network for migration only, or type: secure")


@rule("PVE-HA024", "warning", "Migration network without an address on every node")
def migration_network_unreachable(c: Cluster) -> Iterator[Hit]:
    """PVE picks each node's migration address inside `migration.network`; a node with
    no address there cannot migrate at all ("could not get migration ip: no IP address
    configured on local node for network"), so HA migrations to and from it fail.

    Fix: give every node an interface address in the migration network, or fix the
    network.
    """
    mig = c.datacenter.migration
    if mig is None or mig.network is None:
        return
    missing = [n.name for n in c.nodes if n.interfaces and n.address not in mig.network
               and not any(i.address is not None and i.address.ip in mig.network for i in n.interfaces)]
    if missing:
        yield Hit(("datacenter", "migration", "network"),
                  f"{', '.join(missing)} ha{'s' if len(missing) == 1 else 've'} no address in migration network "
                  f"{mig.network}: migrations to and from {'it' if len(missing) == 1 else 'them'} fail",
                  "add an interface address in that network")


@rule("PVE-HA025", "warning", "Static or dynamic CRS without the guests' memory and CPUs")
def crs_without_sizes(c: Cluster) -> Iterator[Hit]:
    """The `static` and `dynamic` schedulers place HA services by the guests' configured
    memory and CPUs against the nodes' capacity. The cluster has these figures, but the
    stack's failover analysis (`simulate`, plan impact) only has what `guests:` and the
    nodes' `capacity:` declare: without them its predictions fall back to counting
    services, and will differ from what the CRM does.

    Fix: declare every HA guest under `guests:` with `memory_mib` and `cores`, and each
    node's `capacity:`, or import them (`provision import`).
    """
    if c.ha.crs not in ("static", "dynamic") or not c.ha.resources:
        return
    sized = {g.sid for g in c.guests if g.memory_mib and g.cores}
    unsized = [r.sid for r in c.ha.resources if r.sid not in sized]
    no_capacity = [n.name for n in c.nodes if n.capacity is None]
    if unsized or no_capacity:
        what = []
        if unsized:
            what.append(f"HA guest(s) without memory_mib/cores: {', '.join(unsized)}")
        if no_capacity:
            what.append(f"node(s) without capacity: {', '.join(no_capacity)}")
        yield Hit(("ha", "crs"), f"crs {c.ha.crs} places by memory and CPUs, but the stack lacks them ("
                  + "; ".join(what) + ")", "declare guests' memory_mib/cores and nodes' capacity")


@rule("PVE-HA026", "info", "Software watchdog on a node that runs HA services")
def softdog(c: Cluster) -> Iterator[Hit]:
    """Self-fencing depends on the watchdog resetting a node that lost quorum. `softdog`
    (PVE's default) is a kernel timer: it works while the kernel still runs its timers,
    but a hung kernel or a stuck driver can keep the node alive with its guests while the
    rest of the cluster recovers them elsewhere. A hardware watchdog (IPMI/BMC, iTCO)
    resets the machine independently of the kernel.

    Fix: set `ha_watchdog_module` to the board's watchdog driver (e.g. `ipmi_watchdog`,
    `iTCO_wdt`) after checking it works on that hardware; it is loaded at the next boot.
    """
    if not _started(c):
        return
    for ni, node in enumerate(c.nodes):
        if node.ha_watchdog_module == "softdog":
            yield Hit(("nodes", ni, "ha_watchdog_module"),
                      f"{node.name} fences with softdog: a hung kernel may not reset the node",
                      "use the board's hardware watchdog module (ipmi_watchdog, iTCO_wdt, ...)")
