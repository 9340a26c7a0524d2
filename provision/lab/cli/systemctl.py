"""``systemctl start|stop|restart|is-active|status <unit>``: Ceph OSD units change the OSD's state;
``systemd-run`` timers (``NAME.timer``) can be stopped (cancelled); other PVE units are accepted
and do nothing (the lab has no daemons to restart)."""

from __future__ import annotations

import re

from provision.lab.cli.common import fail, node_context
from provision.lab.ops import ceph, packages
from provision.lab.ops.cluster import qdevice_daemon_running, set_qdevice_daemon
from provision.lab.registry import Ctx

KNOWN = {"networking", "corosync", "pve-cluster", "pveproxy", "pvedaemon", "pve-ha-lrm", "pve-ha-crm",
         "pvestatd", "ceph.target", "ceph-mon.target", "ceph-osd.target", "ceph-mgr.target", "ceph-mds.target",
         "chrony", "ssh", "sshd", "watchdog-mux", "corosync-qdevice"}


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    if len(args) < 2:
        fail("Too few arguments.", 1)
    verb, units = args[0], args[1:]
    with node_context(["systemctl", *argv]) as ctx:
        rc = 0
        for unit in units:
            rc = max(rc, _one(ctx, verb, unit.removesuffix(".service")))
        return rc


def _one(ctx: Ctx, verb: str, unit: str) -> int:
    if unit.endswith(".timer"):
        return _timer(ctx, verb, unit)
    m = re.fullmatch(r"ceph-osd@(\d+)", unit)
    if m:
        osd = int(m.group(1))
        row = ctx.store.one("SELECT host, running FROM ceph_osds WHERE id = ?", (osd,))
        if row is None or row["host"] != ctx.node:
            if verb in ("is-active", "status"):
                print("inactive")
                return 3 if verb == "is-active" else 4
            fail(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.", 5)
        if verb in ("start", "restart"):
            ceph.set_osd(ctx, osd, running=True)
        elif verb == "stop":
            ceph.set_osd(ctx, osd, running=False)
        elif verb == "is-active":
            print("active" if row["running"] else "inactive")
            return 0 if row["running"] else 3
        elif verb == "status":
            print(f"* {unit}.service - Ceph object storage daemon osd.{osd}\n     Active: "
                  f"{'active (running)' if row['running'] else 'inactive (dead)'}")
            return 0 if row["running"] else 3
        return 0
    if unit == "corosync-qdevice":
        if "corosync-qdevice" not in packages.installed(ctx.store, ctx.node):
            if verb in ("is-active", "status"):
                print("inactive")
                return 3 if verb == "is-active" else 4
            fail(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.", 5)
        if verb in ("start", "restart", "stop"):
            set_qdevice_daemon(ctx, ctx.node, verb != "stop")
            return 0
        if verb == "is-active":
            running = qdevice_daemon_running(ctx, ctx.node)
            print("active" if running else "inactive")
            return 0 if running else 3
    base = unit.split("@", 1)[0]
    if unit in KNOWN or base in ("ceph-mon", "ceph-mgr", "ceph-mds"):
        if verb == "is-active":
            print("active")
        return 0
    if verb in ("is-active", "status"):
        print("inactive")
        return 3 if verb == "is-active" else 4
    fail(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.", 5)


def _timer(ctx: Ctx, verb: str, unit: str) -> int:
    """A ``systemd-run`` transient timer: ``stop`` cancels it before it fires."""
    state = ctx.paths.transient_units(ctx.node) / unit
    if verb in ("is-active", "status"):
        print("active" if state.exists() else "inactive")
        return 0 if state.exists() else (3 if verb == "is-active" else 4)
    if verb != "stop":
        fail(f"Failed to {verb} {unit}: the lab only stops transient timers", 1)
    if not state.exists():
        fail(f"Failed to stop {unit}: Unit {unit} not loaded.", 5)
    state.unlink()  # the timer process sees its unit gone and exits without running
    return 0
