"""Ansible strategy `pve_parallel`: nodes run their own task lists side by side, and a
failure on any node stops every node before its next task.

A parallel play gives each node its own task file (its probe, then its actions). The
`linear` strategy runs a task on several hosts at once only when it is the *same* task
(ansible-core's `_get_next_task_lockstep` matches task uuids), so per-node files ran one
node after the other: three nodes' OSD creates took three times as long as one node's.
`free` lets each node go at its own pace but ignores `any_errors_fatal`: the other nodes
would carry on with their actions, and the next play would start without the failed node.

This is `free` with the fail-fast rule of `linear` + `any_errors_fatal` (ansible-core
plugins/strategy/linear.py, "checking for any_errors_fatal"): as soon as a result of a
node fails (not ignored) or is unreachable, every other node of the play is marked failed
too, so none starts another task (tasks already running finish, `always:` sections run),
and the whole batch failing ends the playbook: no later play starts.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.strategy.free import StrategyModule as FreeStrategy


class StrategyModule(FreeStrategy):
    """`free`, stopped on the first failure like `linear` with `any_errors_fatal`."""

    def _process_pending_results(self, iterator: Any, one_pass: bool = False,
                                 max_passes: int | None = None) -> Any:
        results = super()._process_pending_results(iterator, one_pass=one_pass, max_passes=max_passes)
        # failed hosts are counted per play (the queue manager clears them when a play
        # starts); unreachable ones for the whole run, so take those from the results
        stopped = set(self._tqm._failed_hosts) | {r.host.name for r in results if r.is_unreachable()}
        if stopped:
            for host in self.get_hosts_left(iterator):
                if host.name not in stopped:
                    self._tqm._failed_hosts[host.name] = True
                    iterator.mark_host_failed(host)
        return results
