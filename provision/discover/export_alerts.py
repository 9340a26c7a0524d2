"""`provision import` of notification targets, matchers and backup jobs.

PVE's built-in target and matcher (`mail-to-root`, `default-matcher`) are left out: a
stack that does not name them leaves them alone, so the import still plans to zero
changes and a later edit of the stack cannot delete them by accident. Secrets PVE never
returns become environment-variable references with a comment saying what to set: a
Gotify token always, an SMTP password when the target authenticates (has a username), a
webhook's secrets by the names PVE answers.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from provision.discover import export as E
from provision.spec.cluster import Cluster
from provision.spec.notifications import BUILTIN_MATCHERS, BUILTIN_TARGETS, WebhookTarget


def secret_key(target: str) -> str:
    """The key of a target's secrets among `SecretNames` (storage names are plain ids)."""
    return f"notifications.target:{target}"


def _webhook_secrets(entry: CommentedMap, target: WebhookTarget, keep: E.SecretNames, taken: set[str]) -> None:
    """A webhook's secrets: PVE answers their names; each becomes a reference to set."""
    if not target.secrets:
        return
    refs = CommentedMap()
    for name in sorted(target.secrets):
        field = f"secret_{name}"
        ref = E._secret_ref(secret_key(target.name), field, keep, taken, base=target.name)
        E.put_secret_ref(refs, name, ref, taken)
    entry["secrets"] = refs


def alerts_to_stack(cluster: Cluster, root: CommentedMap, keep: E.SecretNames, taken: set[str]) -> None:
    notes = cluster.notifications
    if notes is not None:
        targets = [t for t in notes.targets if t.name not in BUILTIN_TARGETS]
        matchers = [m for m in notes.matchers if m.name not in BUILTIN_MATCHERS]
        if targets or matchers:
            section = CommentedMap()
            if targets:
                seq = CommentedSeq()
                for target in targets:
                    entry: Any = E._model(target, first=("name", "type"))
                    if isinstance(target, WebhookTarget):
                        _webhook_secrets(entry, target, keep, taken)
                        seq.append(entry)
                        continue
                    field = "token" if target.type == "gotify" else "password"
                    if target.type == "gotify" or getattr(target, "username", None):
                        ref = E._secret_ref(secret_key(target.name), field, keep, taken, base=target.name)
                        E.put_secret_ref(entry, field, ref, taken)
                    seq.append(entry)
                section["targets"] = seq
            if matchers:
                section["matchers"] = CommentedSeq([E._model(m) for m in matchers])
            root["notifications"] = section
    if cluster.backups is not None and cluster.backups.jobs:
        root["backups"] = CommentedMap({"jobs": CommentedSeq([E._model(j, first=("id",))
                                                               for j in cluster.backups.jobs])})
