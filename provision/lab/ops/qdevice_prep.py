"""What `pvecm qdevice setup ADDRESS` needs before it writes corosync.conf.

pve-cluster `src/PVE/CLI/pvecm.pm` `setup_qdevice` (identical on master = PVE 9 and
stable-bookworm = PVE 8, ~L86-291) runs, on the node where it is called:

1. `ssh-copy-id -i /root/.ssh/id_rsa root@ADDRESS` (~L155): without a terminal this
   works only when the QNetd host's key is already pinned in root's known_hosts and
   root's key already authorized there ("Host key verification failed." otherwise, or
   "Permission denied" where ssh-copy-id would need a password).
2. `ssh ... corosync-qnetd-certutil -i` on the QNetd host with `noerr` (~L167), then
   `scp root@[ADDRESS]:/etc/corosync/qnetd/nssdb/qnetd-cacert.crt` (~L172): without the
   `corosync-qnetd` package there is no such file and scp fails.
3. `corosync-qdevice-net-certutil -i -c ...` on every member with `noerr` (~L176-190),
   then `corosync-qdevice-net-certutil -r -n CLUSTER` locally (~L198): the local node
   must have `corosync-qdevice` (run_command's exec fails otherwise).
4. `corosync-qdevice-net-certutil -m -c /etc/pve/qdevice-net-node.p12` on every member
   over ssh, in node-name order, without `noerr` (~L226-242): each member needs it.

Only then is the `device` section written (~L245-266) and the daemons started. Each
check below fails with the message that step's failure prints.
"""

from __future__ import annotations

from provision.lab import hosts, ssh
from provision.lab.ops import packages
from provision.lab.registry import ApiError, Ctx

CERTUTIL = "corosync-qdevice-net-certutil"


def require_ready(ctx: Ctx, address: str, cluster_name: str, members: dict[str, str]) -> None:
    """Raise PVE's error for the first step of `pvecm qdevice setup` that would fail.

    ``members`` maps each member's name to its address, as `get_members` gives them."""
    why: str | None = f"ssh: connect to host {address} port 22: No route to host"
    if hosts.is_host(ctx.store, address):
        why = ssh.trust_error_at(ctx.paths.node_root(ctx.node), ctx.paths.host_root(address), address)
    if why:
        raise ApiError(500, f"{why}\ncommand 'ssh-copy-id -i /root/.ssh/id_rsa root@{address}' failed: exit code 1")
    if "corosync-qnetd" not in packages.installed(ctx.store, address):
        raise ApiError(500, "scp: /etc/corosync/qnetd/nssdb/qnetd-cacert.crt: No such file or directory\n"
                       f"command 'scp -o BatchMode=yes root@[{address}]:/etc/corosync/qnetd/nssdb/qnetd-cacert.crt "
                       "/etc/pve/qnetd-cacert.crt' failed: exit code 1")
    if CERTUTIL not in _binaries(ctx, ctx.node):
        cmd = f"{CERTUTIL} -r -n {cluster_name}"
        raise ApiError(500, f"command '{cmd}' failed: open3: exec of {cmd} failed: No such file or directory")
    for node in sorted(members):
        if CERTUTIL not in _binaries(ctx, node):
            raise ApiError(500, f"bash: line 1: {CERTUTIL}: command not found\n"
                           f"command '/usr/bin/ssh -e none -o BatchMode=yes -o HostKeyAlias={node} "
                           f"root@{members[node]} -- {CERTUTIL} -m -c /etc/pve/qdevice-net-node.p12' failed: "
                           "exit code 127")


def _binaries(ctx: Ctx, node: str) -> set[str]:
    return {CERTUTIL} if "corosync-qdevice" in packages.installed(ctx.store, node) else set()
