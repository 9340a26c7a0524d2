"""Terminal view of a plan document, coloured on a TTY.

Symbols as in Terraform: `+` create, `~` update, `-/+` replace, `-` delete; `?`
marks unmanaged objects. Updates list `field: old → new`. The last line is
always `Plan: X to add, Y to change, Z to destroy.`
"""

from __future__ import annotations

import io
import json
from typing import Any

SYMBOL = {"create": ("+", "green"), "update": ("~", "yellow"), "replace": ("-/+", "magenta"),
          "delete": ("-", "red"), "unmanaged": ("?", "cyan")}


def fmt_value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def summary_line(document: dict[str, Any]) -> str:
    """Terraform's footer: objects to add/change/destroy. Actions are the steps that carry
    them out (one network reload carries every interface change of its node), so their
    number is said separately, with what it counts."""
    s = document.get("summary", {})
    line = f"Plan: {s.get('add', 0)} to add, {s.get('change', 0)} to change, {s.get('destroy', 0)} to destroy."
    actions = len(document.get("actions", []))
    if actions:
        line += f" {actions} action(s) carry these object changes out."
    return line


def impact_text(item: dict[str, Any]) -> str:
    """One guest impact of a change in words (`migrates vm:100 pve01 → pve02 (live migration)`)."""
    guest, node, target = item.get("guest"), item.get("node"), item.get("target")
    kind = item.get("impact")
    if kind == "migrate":
        return f"migrates {guest} {node} → {target} (live migration)"
    if kind == "restart":
        return f"restarts {guest}: relocated {node} → {target} (a container is shut down, moved and started)"
    return f"{kind}s {guest}" + (f" (on {node})" if node else "")


def impact_summary(document: dict[str, Any]) -> str | None:
    """`Guest impact: stops vm:101; migrates vm:100, vm:102; restarts ct:200.` or None."""
    by_kind: dict[str, list[str]] = {}
    for ch in document.get("changes", []):
        for item in ch.get("guest_impact") or []:
            by_kind.setdefault(str(item.get("impact")), []).append(str(item.get("guest")))
    if not by_kind:
        return None
    parts = [f"{kind}s {', '.join(sorted(set(guests)))}" for kind, guests in sorted(by_kind.items())]
    return "Guest impact: " + "; ".join(parts) + "."


def attribute_rows(change: dict[str, Any]) -> list[tuple[str, Any]]:
    """The attributes a reviewer needs for an object that is created (its `after`) or
    deleted (its `before`): every field that has a value, sorted."""
    values = change.get("after") if change["action"] == "create" else change.get("before")
    if change["action"] not in ("create", "delete") or not isinstance(values, dict):
        return []
    return [(k, v) for k, v in sorted(values.items()) if v not in (None, [], {}, "")]


def bootstrap_line(doc: dict[str, Any]) -> str | None:
    """Which nodes were read through their own API (not members yet), if any: a reviewer
    sees that their state came from per-node bootstrap credentials."""
    nodes = (doc.get("cluster") or {}).get("bootstrap") or []
    if not nodes:
        return None
    return (f"Read through their own API with a bootstrap token (not cluster members yet): {', '.join(nodes)}")


def _header(doc: dict[str, Any]) -> str:
    c = doc.get("cluster", {})
    name = c.get("name") or f"{c.get('stack_name')} (not created yet)"
    nodes = c.get("nodes") or []
    bits = [f"PVE {c['pve_version']}" if c.get("pve_version") else None, f"{len(nodes)} node(s)"]
    if c.get("config_version") is not None:
        bits.append(f"config_version {c['config_version']}")
    head = f"Cluster {name}: " + ", ".join(b for b in bits if b)
    if doc.get("stack"):
        head += f"; stack {doc['stack']}"
    own = bootstrap_line(doc)
    return head + (f"\n{own}" if own else "")


_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35",
        "cyan": "36"}
"""The styles the plan uses, as ANSI SGR codes (the 8 standard colours every terminal has)."""


class Text:
    """One line of the plan as styled pieces (`style`: words of `_SGR`, e.g. "bold red")."""

    def __init__(self, text: str = "", style: str = "") -> None:
        self.pieces = [(text, style)]

    def append(self, text: str, style: str = "") -> None:
        self.pieces.append((text, style))


class _Lines:
    """The plan's lines, with ANSI colour codes or without. Lines are never wrapped: a
    long address or value stays on its line (a log has no right edge to respect). Plain
    strings, not a terminal library: a plan of thousands of lines renders in
    milliseconds, and `plan --format json` never loads one."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.out = io.StringIO()

    def print(self, line: Text | None = None) -> None:
        base = line.pieces[0][1] if line is not None else ""
        for text, style in line.pieces if line is not None else ():
            codes = _codes(f"{base} {style}")
            self.out.write(f"\x1b[{codes}m{text}\x1b[0m" if self.color and codes and text else text)
        self.out.write("\n")


def _codes(style: str) -> str:
    """SGR codes of a piece on its line: the line's style under the piece's own (as rich
    layers an appended span over its text's style): attributes add up, the last colour wins."""
    words = style.split()
    colours = [w for w in words if int(_SGR[w]) >= 30]
    codes = sorted({int(_SGR[w]) for w in words if int(_SGR[w]) < 30}) + ([int(_SGR[colours[-1]])] if colours else [])
    return ";".join(map(str, codes))


def render_text(document: dict[str, Any], *, color: bool = False) -> str:
    console = _Lines(color)
    console.print(Text(_header(document), style="bold"))
    changes = document.get("changes", [])
    if changes:
        console.print()
        console.print(Text("Changes:", style="bold"))
    for ch in changes:
        sym, style = SYMBOL[ch["action"]]
        line = Text(f"  {sym} ", style=style)
        line.append(ch["address"], style="bold")
        if ch.get("destructive"):
            line.append("  [destructive]", style="bold red")
        if ch.get("guest_impact"):
            line.append("  [guest impact]", style="bold yellow")
        if ch["action"] in ("create", "delete") and ch.get("reason"):
            line.append(f"  ({ch['reason']})", style="dim")
        console.print(line)
        for item in ch.get("guest_impact") or []:
            console.print(Text(f"      ! {impact_text(item)}", style="bold yellow"))
        for key, value in attribute_rows(ch):
            row = Text(f"      {key}: ")
            row.append(fmt_value(value), style=style)
            console.print(row)
        for fd in ch.get("field_diffs", []):
            row = Text(f"      {fd['path']}: ")
            row.append(fmt_value(fd["old"]), style="red")
            row.append(" → ")
            row.append(fmt_value(fd["new"]), style="green")
            console.print(row)
        if ch["action"] == "replace" and ch.get("reason"):
            console.print(Text(f"      ({ch['reason']})", style="dim"))
    for f in document.get("files", []):
        console.print()
        console.print(Text(f"{f['path']} on {f['node']}:", style="bold"))
        for row in f["diff"]:
            style = ("bold" if row.startswith(("+++", "---")) else "green" if row.startswith("+")
                     else "red" if row.startswith("-") else "cyan" if row.startswith("@@") else "")
            console.print(Text(f"  {row}", style=style))
    unmanaged = document.get("unmanaged", [])
    if unmanaged:
        console.print()
        console.print(Text("Unmanaged (in the cluster, not in the stack; --prune deletes them):", style="bold"))
        for ch in unmanaged:
            line = Text("  ? ", style="cyan")
            line.append(ch["address"], style="bold")
            line.append(f"  {ch.get('reason', '')}", style="dim")
            console.print(line)
    notes = document.get("notes", [])
    if notes:
        console.print()
        console.print(Text("Notes:", style="bold"))
        for note in notes:
            console.print(Text(f"  - {note}"))
    actions = document.get("actions", [])
    if actions:
        console.print()
        phases = document.get("phases", [])
        console.print(Text(f"Actions ({len(actions)} in {len(phases)} phase(s)):", style="bold"))
        by_id = {a["id"]: a for a in actions}
        for phase in phases:
            console.print(Text(f"  {phase['name']}", style="bold blue"))
            for aid in phase["actions"]:
                a = by_id[aid]
                flags = " ".join(f for f, on in (("serial", a.get("serial")), ("DESTRUCTIVE", a.get("destructive")))
                                 if on)
                line = Text(f"    {a['step']:>3}. {a['kind']:<20} {a.get('node') or '(any)':<8} {a['address']}")
                if flags:
                    line.append(f"  [{flags}]", style="red" if a.get("destructive") else "dim")
                console.print(line)
    console.print()
    if not changes and not actions:
        targets = (document.get("options") or {}).get("targets") or []
        if targets:
            console.print(Text(f"No changes to the targeted objects ({', '.join(targets)}); others were left out "
                               "(--target).", style="green"))
        elif unmanaged:
            console.print(Text(f"No changes to what the stack manages; {len(unmanaged)} unmanaged object(s) "
                               "listed above.", style="green"))
        else:
            console.print(Text("No changes. The cluster matches the stack.", style="green"))
    impact = impact_summary(document)
    if impact:
        console.print(Text(impact, style="bold yellow"))
    console.print(Text(summary_line(document), style="bold"))
    return console.out.getvalue()
